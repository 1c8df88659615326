"""timm models as backbones (``model=timm model.backbone.model=NAME``, the ``timm`` extra): any
model of timm (``vit_small_patch16_224``, ``resnet50``, ``convnext_tiny``, ...) without its
classifier, whose pooled features feed the latent layer and are the ``features`` ES and HDS use.

Pretrained weights come through timm's own loading (the Hugging Face hub, into its cache) or from a
local file (``model.weights_path``); offline without either, the error says both. What the model
expects of an image, its input size, crop and normalisation, comes from its pretrained config
(``timm_input``), so the data module feeds it that.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

# model.backbone.weights of a timm model: its pretrained weights (the tag in its name, as in
# vit_small_patch16_224.augreg_in21k, chooses among them; timm's default otherwise), or null.
PRETRAINED = "pretrained"


def _timm() -> ModuleType:
    try:
        import timm
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "model=timm needs the timm package: pip install -e '.[timm]'"
        ) from None
    return timm


def _checked_name(timm: ModuleType, model: Any) -> str:
    if not isinstance(model, str) or not timm.is_model(model):
        raise ValueError(
            f"model.backbone.model={model!r} is not a timm model; timm.list_models('vit_*') lists "
            "them (e.g. vit_small_patch16_224, resnet50, convnext_tiny)"
        )
    return model


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def timm_input(model: str, **create_options: Any) -> dict[str, Any]:
    """What timm's ``model`` expects of an image, as data keys: ``image_size`` (its input, or the
    ``img_size`` it is created with), ``resize`` (the input over its crop fraction, as timm's
    evaluation transform) and ``normalization`` (its mean and std)."""
    timm = _timm()
    pretrained_cfg = timm.models.get_pretrained_cfg(_checked_name(timm, model))
    config = timm.data.resolve_data_config({}, pretrained_cfg=pretrained_cfg.to_dict())
    height, width = _pair(create_options.get("img_size", config["input_size"][1:]))
    crop = config["crop_pct"]
    return {
        "image_size": [height, width],
        "resize": [math.floor(height / crop), math.floor(width / crop)],
        "normalization": {"mean": list(config["mean"]), "std": list(config["std"])},
    }


class TimmBackbone(nn.Module):
    """A timm model created without its classifier: images to its pooled features."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        # timm >= 1.0: the width of the pooled (pre-logits) features, which some heads widen
        self.feature_dim = getattr(net, "head_hidden_size", None) or net.num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def _hub_id(timm: ModuleType, model: str) -> str:
    return timm.models.get_pretrained_cfg(model).hf_hub_id or model


def _from_hub(timm: ModuleType, model: str, options: dict[str, Any]) -> nn.Module:
    try:
        return timm.create_model(model, pretrained=True, **options)
    except OSError as error:  # the hub's offline and missing-file errors, the network's
        from huggingface_hub.constants import HF_HUB_CACHE

        hub_id = _hub_id(timm, model)
        folder = Path(HF_HUB_CACHE) / f"models--{hub_id.replace('/', '--')}"
        raise RuntimeError(
            f"the pretrained weights of timm's {model} could not be downloaded from the Hugging "
            f"Face hub ({hub_id}: {error}). Either put them in the hub's cache, {folder}, where "
            f"timm looks first (`hf download {hub_id}` on a machine with a network, then copy "
            f"that folder here; HF_HUB_OFFLINE=1 skips the retries), or pass "
            "model.weights_path=PATH to a local file of them (model.safetensors or a state dict)"
        ) from None
    except RuntimeError as error:
        if "No pretrained weights exist" not in str(error):
            raise
        raise ValueError(
            f"timm has no pretrained weights for {model}; set model.backbone.weights=null to "
            "start from a random initialisation, or model.weights_path=PATH"
        ) from None


def _names(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def _read_weights(timm: ModuleType, model: str, path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"model.weights_path={path} does not exist; give a file of the weights of timm's "
            f"{model}: its model.safetensors from the Hugging Face hub, or a state dict saved "
            "with torch.save(timm.create_model(...).state_dict(), path)"
        )
    try:  # timm's reader: safetensors, or torch's without unpickling code (weights_only)
        return timm.models.load_state_dict(str(path))
    except Exception as error:
        raise ValueError(
            f"model.weights_path={path} cannot be read as weights of timm's {model}: {error}"
        ) from None


def _load_file(timm: ModuleType, net: nn.Module, model: str, path: Path) -> None:
    """The weights of the file ``path`` into ``net``, as timm loads its own pretrained weights
    (the classifier left out, the first layer adapted to grey images), but every other tensor
    must fit: timm only logs the ones that do not when a model is adapted."""
    state = _read_weights(timm, model, path)
    config = net.pretrained_cfg
    for classifier in _names(config.get("classifier")):
        state = {k: v for k, v in state.items() if not k.startswith(f"{classifier}.")}
    own = net.state_dict()
    for first in _names(config.get("first_conv")):
        key = f"{first}.weight"
        if key in state and key in own and state[key].shape[1] != own[key].shape[1]:
            state[key] = timm.models.adapt_input_conv(own[key].shape[1], state[key])
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    resized = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
    if missing or unexpected or resized:
        raise ValueError(
            f"the weights {path} do not fit timm's {model}: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, of other shapes {resized[:5]}"
        )
    net.load_state_dict(state)


def build_timm_backbone(
    model: str,
    in_channels: int,
    weights: str | None = PRETRAINED,
    weights_path: str | None = None,
    **create_options: Any,
) -> TimmBackbone:
    """timm's ``model`` for images of ``in_channels`` (timm adapts the pretrained first layer to
    grey images), with its pretrained ``weights`` or those of the file ``weights_path`` (which wins
    when both are given); ``weights`` null gives a random initialisation. ``create_options`` go to
    ``timm.create_model`` (``drop_path_rate``, ``img_size``, ...)."""
    timm = _timm()
    _checked_name(timm, model)
    if weights not in (PRETRAINED, None):
        raise ValueError(
            f"model.backbone.weights={weights!r}: a timm model takes {PRETRAINED} (timm's weights "
            "of the model; a tag in its name, as vit_small_patch16_224.augreg_in21k, chooses "
            "among them) or null (random initialisation)"
        )
    options = {"num_classes": 0, "in_chans": in_channels, **create_options}
    if weights_path is None and weights == PRETRAINED:
        return TimmBackbone(_from_hub(timm, model, options))
    net = timm.create_model(model, pretrained=False, **options)
    if weights_path is not None:
        _load_file(timm, net, model, Path(weights_path))
    return TimmBackbone(net)
