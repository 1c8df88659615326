"""timm models as backbones (``model=timm``): pooled features, the data fed as the model's
pretrained config says, weights from a local file, the offline errors, and a tiny ViT trained,
evaluated and indexed end to end. Every model is built without downloading weights."""

from __future__ import annotations

import json

import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from helpers import build, compose_config, write_digits
from ssdh_lightning.checkpoints import load_module
from ssdh_lightning.models import build_backbone
from ssdh_lightning.models.backbones import BACKBONES
from ssdh_lightning.preprocessing import Preprocessing, normalization_stats
from ssdh_lightning.retrieval import unpack_codes
from ssdh_lightning.run_files import METRICS_FILE, RUN_FILE
from ssdh_lightning.tasks import evaluate, train
from ssdh_lightning.tasks.train import with_model_input

timm = pytest.importorskip("timm")

# timm's test models: a few hundred thousand parameters, 160x160 input, mean and std 0.5
TINY = ["test_vit", "test_resnet", "test_convnext"]
RGB = Preprocessing(channels=3, image_size=(160, 160), mean=(0.5,) * 3, std=(0.5,) * 3)
GREY = Preprocessing(channels=1, image_size=(64, 64), mean=(0.5,), std=(0.25,))


def timm_backbone(model: str = "test_vit", preprocessing=RGB, **options):
    return build_backbone("timm", preprocessing, model=model, weights=None, **options)


def test_timm_is_a_registered_backbone():
    assert "timm" in BACKBONES


@pytest.mark.parametrize("model", TINY)
def test_timm_backbones_give_their_pooled_features(model):
    backbone = timm_backbone(model).eval()
    reference = timm.create_model(model, pretrained=False, num_classes=0).eval()
    reference.load_state_dict(backbone.net.state_dict())
    images = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        features = backbone(images)
        expected = reference.forward_head(reference.forward_features(images), pre_logits=True)
    assert features.shape == (2, backbone.feature_dim)
    torch.testing.assert_close(features, expected)


def test_grey_images_go_to_a_one_channel_stem():
    backbone = timm_backbone("test_resnet", GREY).eval()
    with torch.no_grad():
        assert backbone(torch.randn(2, 1, 64, 64)).shape == (2, backbone.feature_dim)


def test_the_data_follows_the_models_pretrained_config_unless_given(tmp_path):
    def data(*overrides):
        cfg = compose_config(
            "train",
            "data=folder",
            f"data.root={tmp_path}",
            "model=timm",
            "model.backbone.model=test_vit",
            *overrides,
        )
        return with_model_input(cfg.data, cfg.model.backbone)

    filled = data()
    # timm's evaluation transform: the input over its crop fraction (160 / 0.95), then the crop
    assert filled.image_size == [160, 160] and filled.resize == [168, 168]
    assert filled.normalization == {"mean": [0.5] * 3, "std": [0.5] * 3}
    module = instantiate(filled, num_workers=0, manifest_cache=None)
    assert module._preprocessing.mean == (0.5,) * 3 and module._preprocessing.resize == (168, 168)
    given = data("data.image_size=[96,96]", "data.normalization=torchvision")
    assert given.image_size == [96, 96] and given.resize is None
    assert given.normalization == "torchvision"
    assert data("+model.backbone.img_size=64").image_size == [64, 64]  # created at another size
    resnet = data("model.backbone.model=resnet50")  # timm's, at 224 with ImageNet's statistics
    assert resnet.image_size == [224, 224] and resnet.normalization["std"] == [0.229, 0.224, 0.225]


def test_explicit_statistics_are_checked():
    assert normalization_stats({"mean": [0.5] * 3, "std": [0.5] * 3}, 3) == ((0.5,) * 3,) * 2
    for wrong in ({"mean": [0.5], "std": [1.0]}, {"mean": [0.5] * 3, "std": [0.5, 0.5, 0]}):
        with pytest.raises(ValueError, match=r"one value per channel \(3\), std > 0"):
            normalization_stats(wrong, 3)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_from_a_local_file(tmp_path, suffix):
    net = timm.create_model("test_vit", pretrained=False)  # with its classifier, as published
    with torch.no_grad():
        net.patch_embed.proj.weight.fill_(0.25)  # recognisable after loading
    path = tmp_path / f"model{suffix}"
    if suffix == ".pth":
        torch.save(net.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file(net.state_dict(), path)
    backbone = build_backbone("timm", RGB, weights_path=str(path), model="test_vit")
    assert torch.all(backbone.net.patch_embed.proj.weight == 0.25)
    assert not hasattr(backbone.net.head, "weight")  # the classifier is left out


def test_missing_unreadable_or_foreign_weights_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.weights_path=.*does not exist"):
        build_backbone("timm", RGB, weights_path=str(tmp_path / "nope.pth"), model="test_vit")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not weights")
    with pytest.raises(ValueError, match="cannot be read as weights of timm's test_vit"):
        build_backbone("timm", RGB, weights_path=str(bad), model="test_vit")
    other = tmp_path / "other.pth"
    torch.save(timm.create_model("test_resnet").state_dict(), other)
    with pytest.raises(ValueError, match=r"do not fit timm's test_vit: missing \['blocks\.0\."):
        build_backbone("timm", RGB, weights_path=str(other), model="test_vit")


def test_offline_without_weights_names_the_cache_and_weights_path(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError) as error:
        build_backbone("timm", RGB, model="test_vit", weights="pretrained")
    message = str(error.value)
    assert str(tmp_path / "models--timm--test_vit.r160_in1k") in message
    assert "hf download timm/test_vit.r160_in1k" in message and "model.weights_path" in message


def test_unknown_models_and_weights():
    with pytest.raises(ValueError, match=r"model\.backbone\.model='vit_nope' is not a timm model"):
        timm_backbone("vit_nope")
    with pytest.raises(ValueError, match=r"takes pretrained .* or null"):
        build_backbone("timm", RGB, model="test_vit", weights="IMAGENET1K_V1")


@pytest.fixture(scope="module")
def digit_images(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    write_digits(root, range(60))
    return root


def test_a_tiny_vit_trains_evaluates_and_indexes(digit_images, tmp_path):
    run_dir = tmp_path / "train"
    cfg = compose_config(
        "train",
        "data=folder",
        f"data.root={digit_images}",
        "data.num_workers=0",
        "data.batch_size=16",
        "model=timm",
        "model.backbone.model=test_vit",
        "model.backbone.weights=null",
        "model.hash_bits=16",
        "trainer.max_steps=3",
        "trainer.enable_progress_bar=false",
        "baselines=[]",
        "callbacks.retrieval_visuals=null",
        f"output_dir={run_dir}",
    )
    metrics = train(cfg)
    assert 0 <= metrics["bcs/map@all"] <= 1 and metrics["es/map@all"] > 0
    assert json.loads((run_dir / RUN_FILE).read_text())["backbone"] == "timm/test_vit weights=null"
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    model = load_module(checkpoint)
    assert model.preprocessing.image_size == (160, 160) and model.preprocessing.mean == (0.5,) * 3
    evaluated = evaluate(
        compose_config(
            "eval",
            f"ckpt_path={checkpoint}",
            "trainer.enable_progress_bar=false",
            f"output_dir={tmp_path / 'eval'}",
        )
    )
    for key in ("bcs/map@all", "es/map@all", "hds/precision@100"):
        assert evaluated[key] == pytest.approx(metrics[key], abs=1e-6), key
    assert json.loads((tmp_path / "eval" / METRICS_FILE).read_text()) == evaluated
    index = build(checkpoint, digit_images, tmp_path / "index")
    assert len(index) == 60 and index.hash_bits == 16
    first = [digit_images / path for path in index.paths.tolist()[:4]]
    images = torch.stack([model.preprocessing.prepare(Image.open(path)) for path in first])
    with torch.no_grad():
        codes = model.encode(images).codes.numpy()
    assert (unpack_codes(index.codes)[:4] == codes).all()  # the index's codes are the model's
