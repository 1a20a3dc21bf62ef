"""Image encoders: a small CNN, or a ResNet whose weights come from a file the user gives.

The same interface as the text and vector encoders (prepare / lengths / collate / forward(inputs,
layers) / save_architecture / from_architecture), so every method and the one training loop run
on images unchanged. Layers: 0 is the image itself, average-pooled to 8 x 8 pixels (the input
space, where methods with an untrained encoder look for neighbours); 1 .. n_layers are the
network's stages, each average-pooled over its positions. The last stage is the feature; the
earlier ones pass a linear map to the same width, so that a method contrasting a shallow layer
with the output (HWSCL) can compare them.

Backbones (``encoder=`` / ``--encoder``):

- ``cnn`` or ``cnn:WIDTH``: four stages of 3 x 3 convolutions, group norm and ReLU, widths
  WIDTH, 2 WIDTH, 4 WIDTH, 8 WIDTH (default 16), random initialisation: small enough to train
  on a laptop CPU;
- ``resnet18``, ``resnet34``, ``resnet50`` (random initialisation), or ``resnet18:FILE`` with
  weights from a local file: a safetensors file or a PyTorch state dict (loaded with
  ``weights_only=True``). The modules carry torchvision's names, so a torchvision ResNet's
  state dict loads as it is (its classifier, ``fc``, is left out). Nothing is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coarse2fine.data.dataset import InputError
from coarse2fine.distributed import shard_forward

# ImageNet's channel statistics: what pretrained ResNets expect; harmless for random ones
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
INPUT_POOL = 8  # layer 0: the image average-pooled to 8 x 8 (192 numbers)
RESNETS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
           "resnet50": ("bottleneck", (3, 4, 6, 3))}  # fmt: skip
IMAGE_SPEC = re.compile(r"^(cnn)(?::(\d+))?$|^(resnet18|resnet34|resnet50)(?::(.+))?$")


def parse_image_spec(name: str) -> tuple[str, int, str | None] | None:
    """ "cnn" -> ("cnn", 16, None); "cnn:32" -> ("cnn", 32, None); "resnet18:w.pt" ->
    ("resnet18", 0, "w.pt"); a name that is no image backbone -> None."""
    match = IMAGE_SPEC.match(name)
    if match is None:
        return None
    if match.group(1):
        width = int(match.group(2) or 16)
        if width < 1:
            raise InputError(f"encoder {name!r}: the CNN's width must be >= 1 (e.g. cnn:16)")
        return "cnn", width, None
    return match.group(3), 0, match.group(4)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(inplanes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = _shortcut(inplanes, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(inplanes: int, planes: int, stride: int) -> nn.Module | None:
    if stride == 1 and inplanes == planes:
        return None
    return nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))


def _conv_stage(inplanes: int, planes: int, stride: int, last: bool = False) -> nn.Sequential:
    """Two 3 x 3 convolutions with group norm (no running statistics: a CNN that starts from
    nothing gives the same features in training and in evaluation) and ReLU; the last stage
    ends at its norm, as the MLP's last block does, so that pooled features of a fresh network
    take both signs rather than all lying in the positive orthant (FALCON's cosine classifier
    starts from them; bench/images.py measures how alike they still are)."""
    groups = max(g for g in (8, 4, 2, 1) if planes % g == 0)
    layers = [
        nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False),
        nn.GroupNorm(groups, planes),
        nn.ReLU(inplace=True),
        nn.Conv2d(planes, planes, 3, 1, 1, bias=False),
        nn.GroupNorm(groups, planes),
    ]
    return nn.Sequential(*layers if last else [*layers, nn.ReLU(inplace=True)])


class ImageEncoder(nn.Module):
    """A CNN or ResNet over (N, 3, size, size) images; see the module docstring for layers."""

    is_image = True

    def __init__(self, backbone: str = "cnn", width: int = 16, size: int = 64) -> None:
        super().__init__()
        self.backbone, self.width, self.size = backbone, int(width), int(size)
        self.pretrained = False
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        if backbone == "cnn":
            widths = [width, 2 * width, 4 * width, 8 * width]
            stages, inplanes = [], 3
            for i, planes in enumerate(widths):
                stages.append(_conv_stage(inplanes, planes, 1 if i == 0 else 2, i == 3))
                inplanes = planes
            self.stages = nn.ModuleList(stages)
        elif backbone in RESNETS:
            block_kind, counts = RESNETS[backbone]
            block = BasicBlock if block_kind == "basic" else Bottleneck
            # torchvision's names: conv1, bn1, layer1..layer4 (so its state dicts load)
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            inplanes, widths = 64, []
            for i, (planes, count) in enumerate(zip((64, 128, 256, 512), counts, strict=True)):
                blocks = []
                for j in range(count):
                    blocks.append(block(inplanes, planes, 2 if j == 0 and i > 0 else 1))
                    inplanes = planes * block.expansion
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
                widths.append(inplanes)
        else:
            raise InputError(f"unknown image backbone {backbone!r}: use cnn, resnet18/34/50")
        self.widths = widths
        self.n_layers, self.dim = len(widths), widths[-1]
        self.in_dim = 3 * INPUT_POOL * INPUT_POOL  # layer 0's width: the pooled pixels
        # the earlier stages mapped to the output's width (for shallow-vs-deep contrast)
        self.adapters = nn.ModuleList(nn.Linear(w, self.dim) for w in widths[:-1])

    def _stage_list(self) -> list[nn.Module]:
        if self.backbone == "cnn":
            return list(self.stages)
        return [getattr(self, f"layer{i + 1}") for i in range(4)]

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        if self.backbone == "cnn":
            return x
        return F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)

    @classmethod
    def from_spec(cls, name: str, size: int, seed: int = 0) -> ImageEncoder:
        """The encoder an ``encoder=`` name asks for, weights loaded when a file is named."""
        spec = parse_image_spec(name)
        if spec is None:
            raise InputError(f"encoder {name!r} is no image backbone (cnn, cnn:W, resnet18[:FILE])")
        backbone, width, weights = spec
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            encoder = cls(backbone, width or 16, size)
        if weights is not None:
            encoder.load_backbone(weights)
        return encoder

    def load_backbone(self, path: str | Path) -> None:
        """Weights of a ResNet from a safetensors file or a state dict (torchvision's names;
        ``fc.*`` ignored). Every backbone weight must be in the file."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"weights file {path} does not exist")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged or foreign file: say which and why
            raise InputError(f"weights file {path} cannot be read: {err}") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        own = {k: v for k, v in self.state_dict().items() if _is_backbone_key(k)}
        missing = [k for k in own if k not in state]
        if missing:
            raise InputError(
                f"weights file {path} lacks {len(missing)} of the {self.backbone} weights "
                f"(first: {missing[0]}); is it a {self.backbone} state dict?"
            )
        wrong = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
        if wrong:
            raise InputError(
                f"weights file {path}: {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, "
                f"the {self.backbone} needs {tuple(own[wrong[0]].shape)}"
            )
        self.load_state_dict({k: state[k] for k in own}, strict=False)
        self.pretrained = True

    # -- data side -----------------------------------------------------------------------------
    def prepare(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != (self.size, self.size, 3):
            raise InputError(
                f"this model takes {self.size} x {self.size} RGB images, got an array of shape "
                f"{images.shape}; read the images with the same image size as at fit"
            )
        return images

    @staticmethod
    def lengths(prepared: np.ndarray) -> np.ndarray:
        return np.ones(len(prepared), dtype=np.int64)

    def collate(self, prepared: np.ndarray, index: np.ndarray) -> dict[str, torch.Tensor]:
        """Pixels in [0, 1], channels first; normalisation happens in ``forward`` so that
        augmented views can work on plain pixels."""
        batch = torch.from_numpy(np.ascontiguousarray(prepared[np.asarray(index)]))
        return {"x": batch.permute(0, 3, 1, 2).float().div_(255.0)}

    # -- model side ----------------------------------------------------------------------------
    def forward(self, inputs: dict[str, torch.Tensor], layers: Sequence[int]) -> list[torch.Tensor]:
        return shard_forward(self._forward, inputs, layers)

    def _forward(self, inputs: dict[str, torch.Tensor], layers: Sequence[int]) -> list:
        for layer in layers:
            if not 0 <= layer <= self.n_layers:
                raise ValueError(f"layer {layer} outside 0..{self.n_layers}")
        x = inputs["x"]
        out: dict[int, torch.Tensor] = {}
        if 0 in layers:
            out[0] = F.adaptive_avg_pool2d(x, INPUT_POOL).flatten(1)
        h = self._stem((x - self.mean) / self.std)
        for i, stage in enumerate(self._stage_list()[: max(layers)], start=1):
            h = stage(h)
            if i in layers:
                pooled = h.mean(dim=(2, 3))
                out[i] = pooled if i == self.n_layers else self.adapters[i - 1](pooled)
        return [out[layer] for layer in layers]

    # -- persistence ---------------------------------------------------------------------------
    def save_architecture(self, directory: Path) -> dict:
        """Everything but the weights (which the method's safetensors hold); ``pretrained``
        decides which layer some methods embed with, so a loaded model must keep it."""
        return {
            "kind": "image",
            "backbone": self.backbone,
            "width": self.width,
            "size": self.size,
            "pretrained": self.pretrained,
        }

    @classmethod
    def from_architecture(cls, directory: Path, spec: dict) -> ImageEncoder:
        encoder = cls(spec["backbone"], int(spec["width"]), int(spec["size"]))
        encoder.pretrained = bool(spec.get("pretrained", False))
        return encoder


def _is_backbone_key(key: str) -> bool:
    """A ResNet weight torchvision's state dict holds (not our adapters or normalisation)."""
    return key.startswith(("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4."))
