"""torchvision backbones: shapes, ImageNet weights from a local file, and the offline errors."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision

from ssdh_lightning.checkpoints import load_module
from ssdh_lightning.models import build_backbone
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

RGB = Preprocessing(channels=3, image_size=(64, 64), mean=IMAGENET_MEAN, std=IMAGENET_STD)
GREY = Preprocessing(channels=1, image_size=(64, 64), mean=(0.5,), std=(0.25,))


@pytest.mark.parametrize(
    ("name", "feature_dim"), [("alexnet", 4096), ("vgg16", 4096), ("resnet50", 2048)]
)
def test_backbones_give_their_features(name, feature_dim):
    backbone = build_backbone(name, RGB, weights=None).eval()
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, 64, 64))
    assert backbone.feature_dim == feature_dim
    assert features.shape == (2, feature_dim)
    if name != "resnet50":
        assert (features >= 0).all()  # fc7 after its ReLU


@pytest.fixture(scope="module")
def alexnet_weights(tmp_path_factory):
    """A local AlexNet state dict, written the way a user would save torchvision's weights."""
    net = torchvision.models.alexnet(weights=None)
    with torch.no_grad():
        net.classifier[4].weight.fill_(0.5)  # fc7: recognisable after loading
    path = tmp_path_factory.mktemp("weights") / "alexnet.pth"
    torch.save(net.state_dict(), path)
    return path


def module(weights_path=None, preprocessing=GREY, **backbone) -> SSDHModule:
    return SSDHModule(
        hash_bits=16,
        num_classes=3,
        preprocessing=preprocessing.as_dict(),
        backbone={"name": "alexnet", "weights": None, **backbone},
        weights_path=weights_path and str(weights_path),
    )


def test_local_weights_file_is_loaded_and_grey_images_work(alexnet_weights):
    model = module(alexnet_weights).eval()
    fc7 = model.backbone.body[7]  # features, avgpool, flatten, dropout, fc6, relu, dropout, fc7
    assert torch.all(fc7.weight == 0.5)
    with torch.no_grad():
        encoded = model.encode(torch.randint(0, 256, (2, 1, 64, 64), dtype=torch.uint8))
    assert encoded.features.shape == (2, 4096) and encoded.codes.shape == (2, 16)


def test_a_checkpoint_reloads_without_the_pretrained_weights(alexnet_weights, tmp_path):
    model = module(alexnet_weights)
    path = tmp_path / "model.ckpt"
    torch.save({"hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, path)
    moved = alexnet_weights.with_suffix(".moved")
    alexnet_weights.rename(moved)
    try:
        restored = load_module(path)
    finally:
        moved.rename(alexnet_weights)
    assert torch.equal(restored.backbone.body[7].weight, model.backbone.body[7].weight)


def test_missing_or_unreadable_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.weights_path=.*does not exist"):
        module(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not weights")
    with pytest.raises(ValueError, match="cannot be read as a state dict"):
        module(bad)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match="do not fit torchvision's alexnet"):
        module(other)


def test_offline_without_weights_names_both_ways(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError) as error:
        module(weights="IMAGENET1K_V1")
    message = str(error.value)
    assert "alexnet-owt-7be5be79.pth" in message
    assert str(tmp_path / "checkpoints") in message
    assert "model.weights_path" in message


def test_unknown_backbone_and_weights_names():
    with pytest.raises(
        ValueError,
        match=r"unknown backbone 'lenet'; model.backbone.name takes one of small_cnn, alexnet",
    ):
        build_backbone("lenet", RGB)
    with pytest.raises(ValueError, match=r"model\.backbone\.weights must be one of"):
        module(weights="IMAGENET_NOPE")
    with pytest.raises(ValueError, match="small_cnn trains from scratch"):
        build_backbone("small_cnn", RGB, weights_path="/x.pth")
