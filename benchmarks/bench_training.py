"""Training images per second of each backbone at its native input, in fp32 and in mixed
precision, channels last or not, compiled or not: the project's training (Lightning's
``Trainer.fit`` of ``SSDHModule``) against a plain PyTorch loop of the same model and batches on
the same device. The ratio, project over plain loop, is the figure: what the framework costs.

    python benchmarks/bench_training.py                  # every model; on the GPU if there is one
    python benchmarks/bench_training.py --models resnet50 vit_base_patch16_224 --compile off on
    python benchmarks/bench_training.py --models small_cnn --batch 8 --steps 10    # a CPU, quickly

Models: small_cnn (32x32, CIFAR-10's size), alexnet (227x227), vgg16 and resnet50 (224x224) from
torchvision, and any timm model at its pretrained config's input (vit_base_patch16_224: 224x224),
all from random weights. Both sides train one ``SSDHModule`` with the paper's loss and SGD on the
same batches of random uint8 images, moved to the device a batch at a time. The project's side
runs ``fit`` with no validation, logger or checkpoint; the plain loop does forward, loss,
backward and step under ``torch.autocast`` (a gradient scaler for float16), as the precision
says. The first ``--warmup`` steps of each (compilation, cuDNN's autotuning) are not timed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader

from ssdh_lightning.data.base import Batch
from ssdh_lightning.data.in_memory import InMemoryImages, stacked_batch
from ssdh_lightning.models.backbones import BACKBONES
from ssdh_lightning.models.timm_backbones import timm_input
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ssdh_lightning.testing.measure import print_table

CLASSES = 10
MODELS = ("small_cnn", "alexnet", "resnet50", "vit_base_patch16_224")
# The native input of the project's own backbones; a timm model's comes from its config.
NATIVE_SIZES = {"small_cnn": 32, "alexnet": 227, "vgg16": 224, "resnet50": 224}
AUTOCAST = {"32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def backbone_of(model: str) -> tuple[dict, int]:
    """(model.backbone config, input size) of ``model``: one of the project's backbones, or a
    timm model."""
    if model in NATIVE_SIZES:
        backbone = {"name": model} if model == "small_cnn" else {"name": model, "weights": None}
        return backbone, NATIVE_SIZES[model]
    if model in BACKBONES:
        raise ValueError(f"{model} has no native input here; choose among {list(NATIVE_SIZES)}")
    return {"name": "timm", "model": model, "weights": None}, timm_input(model)["image_size"][0]


def build_model(model: str, channels_last: bool, compile: bool) -> tuple[SSDHModule, int]:
    backbone, size = backbone_of(model)
    preprocessing = Preprocessing(3, (size, size), IMAGENET_MEAN, IMAGENET_STD)
    torch.manual_seed(0)
    module = SSDHModule(
        num_classes=CLASSES,
        preprocessing=preprocessing.as_dict(),
        backbone=backbone,
        channels_last=channels_last,
        compile=compile,
    )
    return module, size


def loader(size: int, batch: int, batches: int) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch * batches, 3, size, size), dtype=torch.uint8)
    labels = torch.randint(0, CLASSES, (batch * batches,), generator=generator)
    data = InMemoryImages(images, labels)
    return DataLoader(data, batch_size=batch, collate_fn=stacked_batch, pin_memory=False)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(L.Callback):
    """The seconds from the end of step ``warmup`` to the end of training."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.start = self.seconds = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            synchronize(self.device)
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self.start


def project_seconds(
    module: SSDHModule, data: DataLoader, device: torch.device, precision: str, warmup: int
) -> float:
    """Seconds of the timed steps of ``Trainer.fit``, as ssdh-train trains."""
    timer = StepTimer(warmup, device)
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision=precision,
        max_steps=len(data),
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=data)
    return timer.seconds


def plain_seconds(
    module: SSDHModule, data: DataLoader, device: torch.device, precision: str, warmup: int
) -> float:
    """Seconds of the timed steps of a plain loop: forward, loss, backward, step."""
    module.to(device).train()
    optimizer = module.configure_optimizers()
    dtype = AUTOCAST[precision]
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    for step, batch in enumerate(data):
        if step == warmup:
            synchronize(device)
            start = time.perf_counter()
        batch = Batch(*(tensor.to(device, non_blocking=True) for tensor in batch))
        module.method.start_training_step()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss, _ = module.method_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    synchronize(device)
    return time.perf_counter() - start


def run(
    models: Sequence[str] = MODELS,
    precisions: Iterable[str] = ("32-true", "bf16-mixed"),
    channels_last: Iterable[bool] = (False, True),
    compile: Iterable[bool] = (False,),
    batch: int = 32,
    steps: int = 20,
    warmup: int = 5,
    device: str = "auto",
) -> list[dict]:
    """A row per model and setting: the images/s of the project's training and of the plain loop,
    and their ratio. Each side trains the same module (built once) on the same batches."""
    if warmup < 1 or steps < 1:
        raise ValueError(f"--warmup and --steps must be at least 1, got {warmup} and {steps}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    where = torch.device(device)
    rows = []
    for model in models:
        for compiled in compile:
            for last in channels_last:
                module, size = build_model(model, last, compiled)
                data = loader(size, batch, warmup + steps)
                for precision in precisions:
                    timed = batch * steps
                    project = timed / project_seconds(module, data, where, precision, warmup)
                    plain = timed / plain_seconds(module, data, where, precision, warmup)
                    rows.append(
                        {
                            "model": model,
                            "input": size,
                            "precision": precision,
                            "channels_last": last,
                            "compile": compiled,
                            "project img/s": project,
                            "plain img/s": plain,
                            "ratio": project / plain,
                        }
                    )
    return rows


def device_name(device: str) -> str:
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU, {torch.get_num_threads()} torch threads"


def on_off(values: list[str]) -> list[bool]:
    return [value == "on" for value in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--precision", nargs="+", default=["32-true", "bf16-mixed"])
    parser.add_argument("--channels-last", nargs="+", choices=["off", "on"], default=["off", "on"])
    parser.add_argument("--compile", nargs="+", choices=["off", "on"], default=["off"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each side")
    parser.add_argument("--warmup", type=int, default=5, help="steps before the timed ones")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    unknown = sorted(set(args.precision) - set(AUTOCAST))
    if unknown:
        parser.error(f"--precision takes {', '.join(AUTOCAST)}, not {', '.join(unknown)}")
    rows = run(
        args.models,
        args.precision,
        on_off(args.channels_last),
        on_off(args.compile),
        args.batch,
        args.steps,
        args.warmup,
        args.device,
    )
    print(
        f"{device_name(args.device)}; batch {args.batch}, {args.steps} timed steps after "
        f"{args.warmup}; random weights and images"
    )
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
