"""Bad values of ssdh-train's config are refused before any data is loaded, naming key=value."""

from __future__ import annotations

import re

import pytest

from helpers import TINY_TRAINING, assert_stopped, call_tool, compose_config, run_tool
from ssdh_lightning.config_checks import check_eval_config, check_train_config
from ssdh_lightning.run_files import CLASS_NAMES_FILE


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=foo", "seed=foo: must be an integer between 0 and 4294967295"),
        ("seed=-1", "seed=-1: must be an integer between 0 and 4294967295"),
        ("seed=4294967296", "seed=4294967296: must be an integer between 0"),
        ("seed=1.5", "seed=1.5: must be an integer"),
        ("seed=true", "seed=True: must be an integer"),
        ("trainer.max_epochs=abc", "trainer.max_epochs=abc: must be an integer >= -1"),
        ("trainer.max_epochs=-2", "trainer.max_epochs=-2: must be an integer >= -1"),
        ("trainer.max_steps=1e3", "trainer.max_steps=1000.0: must be an integer >= -1"),
        ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch=0: must be a"),
        ("trainer.gradient_clip_val=0", "trainer.gradient_clip_val=0: must be a finite number > 0"),
        ("trainer.gradient_clip_val=inf", "trainer.gradient_clip_val=inf: must be a finite number"),
        ("trainer.max_epochs=-1", "trainer.max_epochs=-1 with trainer.max_steps=-1: the run"),
        ("model.hash_bits=0", "model.hash_bits=0: must be a positive integer; e.g. model.hash_"),
        ("model.hash_bits=48.0", "model.hash_bits=48.0: must be a positive integer"),
        ("model.hash_bits=abc", "model.hash_bits=abc: must be a positive integer"),
        ("model.dropout=1", "model.dropout=1: must be a number from 0 up to (not including) 1"),
        ("model.dropout=-0.1", "model.dropout=-0.1: must be a number from 0"),
        ("model.latent_init_std=0", "model.latent_init_std=0: must be a finite number > 0"),
        ("model.latent_init_std=nan", "model.latent_init_std=nan: must be a finite number > 0"),
        ("model.optimizer.lr=0", "model.optimizer.lr=0: must be a finite number > 0"),
        ("model.optimizer.lr=fast", "model.optimizer.lr=fast: must be a finite number > 0"),
        ("model.optimizer.lr=inf", "model.optimizer.lr=inf: must be a finite number > 0"),
        ("model.optimizer.momentum=1.0", "model.optimizer.momentum=1.0: must be a number from"),
        ("model.optimizer.weight_decay=-1e-4", "model.optimizer.weight_decay=-0.0001: must be"),
        ("model.optimizer.bias_lr_mult=0", "model.optimizer.bias_lr_mult=0: must be a finite"),
        ("model.optimizer.latent_lr_mult=-1", "model.optimizer.latent_lr_mult=-1: must be a"),
        ("+model.optimizer.dampening=0.1", "unknown model.optimizer keys ['dampening']"),
        ("model.optimizer.bias_decay_mult=-1", "model.optimizer.bias_decay_mult=-1: must be a"),
        ("model.optimizer.nesterov=yes", "model.optimizer.nesterov=yes: must be true or false"),
        ("model.scheduler.milestones=[0]", "model.scheduler.milestones=[0]: must be a list of"),
        ("model.scheduler.milestones=5", "model.scheduler.milestones=5: must be a list of"),
        ("model.scheduler.milestones=[]", "model.scheduler.milestones=[]: must be a list of"),
        ("model.scheduler.milestones=[9,3]", "model.scheduler.milestones=[9, 3]: must be incr"),
        ("model.scheduler.step_size=0", "model.scheduler.step_size=0: must be a positive int"),
        ("model.scheduler.gamma=0", "model.scheduler.gamma=0: must be a finite number > 0"),
        ("model.scheduler.interval=x", "model.scheduler.interval=x: must be 'step' or 'epoch'"),
    ],
)
def test_a_bad_value_is_named_with_what_the_key_takes(override, message):
    with pytest.raises(ValueError) as error:
        check_train_config(compose_config("train", override))
    assert message in str(error.value)
    key = override.lstrip("+").split("=")[0]
    assert "e.g." in str(error.value) or "allowed:" in str(error.value)
    assert key in str(error.value)


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("trainer.max_epochs=-1", "trainer.max_steps=10"),  # steps bound the run
        ("trainer.max_epochs=-1", "+trainer.max_time=00:00:10:00"),
        ("trainer.max_epochs=null",),  # Lightning's default of 1000 epochs
        ("trainer.max_epochs=0", "model.dropout=0.5", "model.optimizer.momentum=0"),
        ("model.scheduler.step_size=25000", "model.scheduler.interval=epoch", "seed=4294967295"),
        ("experiment=cifar10_alexnet",),
        ("experiment=mnist",),
        ("experiment=fashion_mnist", "trainer.gradient_clip_val=null"),
        ("model.optimizer.nesterov=true", "model.optimizer.bias_decay_mult=1"),
        ("model.scheduler.milestones=[3,9]", "model.scheduler.interval=epoch"),
    ],
)
def test_good_configs_pass(overrides):
    check_train_config(compose_config("train", *overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ("model.optimizer.nesterov=true", "model.optimizer.name=adam"),
            "model.optimizer.nesterov=true: Nesterov momentum is SGD's, with a momentum above 0; "
            "got model.optimizer.name=adam",
        ),
        (
            ("model.optimizer.nesterov=true", "model.optimizer.momentum=0"),
            "got model.optimizer.name=sgd and model.optimizer.momentum=0; e.g. "
            "model.optimizer.nesterov=false",
        ),
        (  # a key left out is checked at the module's default for it (name: sgd)
            (
                "model.optimizer.nesterov=true",
                "model.optimizer.momentum=0",
                "~model.optimizer.name",
            ),
            "got model.optimizer.name=sgd and model.optimizer.momentum=0",
        ),
        (
            ("model.scheduler.step_size=10", "model.scheduler.milestones=[3,9]"),
            "model.scheduler.step_size=10 and model.scheduler.milestones=[3, 9]: give one (drops "
            "every step_size, or at the milestones); e.g. model.scheduler.step_size=null",
        ),
    ],
)
def test_settings_that_do_not_go_together_are_refused(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_train_config(compose_config("train", *overrides))


def test_eval_takes_a_null_seed_but_not_a_bad_one():
    check_eval_config(compose_config("eval", "ckpt_path=x"))
    check_eval_config(compose_config("eval", "ckpt_path=x", "trainer.max_epochs=-1"))
    bad = compose_config("eval", "ckpt_path=x", "seed=foo")
    with pytest.raises(ValueError, match="seed=foo: must be an integer"):
        check_eval_config(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seed=foo"], "seed=foo: must be an integer between 0 and 4294967295; e.g. seed=0"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs=abc: must be an integer >= -1"),
        (["trainer.max_epochs=-1"], "trainer.max_epochs=-1 with trainer.max_steps=-1"),
        (["model.optimizer.momentum=2"], "model.optimizer.momentum=2: must be a number from 0"),
    ],
)
def test_training_refuses_a_bad_value_before_loading_data(tmp_path, args, message):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=re.escape(message)):
        call_tool("ssdh-train", *TINY_TRAINING, *args, run_dir=run_dir)
    assert not (run_dir / CLASS_NAMES_FILE).exists()  # failed before the data was loaded


def test_the_ssdh_train_process_exits_1_with_the_message_last(tmp_path):
    run_dir = tmp_path / "run"
    result = run_tool(
        "ssdh-train",
        *TINY_TRAINING,
        "seed=foo",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        check=False,
    )
    assert_stopped(result, "ValueError: seed=foo: must be an integer between 0 and 4294967295")
    assert not (run_dir / CLASS_NAMES_FILE).exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"optimizer": {"lr": -1}}, "model.optimizer.lr=-1: must be a finite number > 0"),
        ({"optimizer": {"dampening": 0.1}}, "unknown model.optimizer keys ['dampening']"),
        ({"num_classes": -1}, "num_classes=-1: must be an integer >= 0"),
        ({"num_classes": 0}, "method=lin2015 learns from labels, but the data has none"),
        ({"hash_bits": 0}, "model.hash_bits=0: must be a positive integer"),
    ],
)
def test_the_module_built_in_python_runs_the_same_checks(options, message):
    from ssdh_lightning.module import SSDHModule
    from ssdh_lightning.preprocessing import Preprocessing

    preprocessing = Preprocessing(1, (8, 8), (0.5,), (0.5,)).as_dict()
    SSDHModule(preprocessing=preprocessing)  # the defaults pass
    with pytest.raises(ValueError) as error:
        SSDHModule(preprocessing=preprocessing, **options)
    assert message in str(error.value)
