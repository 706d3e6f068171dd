"""LeNet-5 and a small VGG-style network: stacks of convolutions, then a fully connected head.

Both keep the reference chapter's ``layers`` tuple
``(in_channels, conv1, conv2, fc_in, fc1, fc2, classes)``, but
``fc_in`` (the flattened size after the convolutions) is computed from the input size: pass ``None``
or the right number. Both return log-probabilities (use ``nn.NLLLoss``). ``batch_norm=True`` adds
batch-norm after each convolution and ``dropout=p`` drops FC activations; both are off by default
(the reference models).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import CourseModel

__all__ = ["ConvClassifier", "LeNet5", "MiniVGGNet", "conv_output_size"]

Layers = tuple[int, int, int, int | None, int, int, int]


def conv_output_size(size: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """Spatial size after a convolution or pooling: ``(W - K + 2P) // S + 1``."""
    return (size - kernel + 2 * padding) // stride + 1


def _check_input(model: nn.Module, x: torch.Tensor) -> None:
    """Fail early, naming the shape the model was built for and the one it got."""
    expected = (model.in_channels, model.input_size, model.input_size)
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"{type(model).__name__} was built for input (N, {expected[0]}, {expected[1]}, "
            f"{expected[2]}) but got {tuple(x.shape)}. Build it with in_channels/input_size that "
            "match your data, e.g. input_size=32 for CIFAR-10."
        )


def _norm(channels: int, enabled: bool) -> nn.Module:
    """Batch-norm after a convolution when enabled; otherwise a no-op with no parameters."""
    return nn.BatchNorm2d(channels) if enabled else nn.Identity()


def _resolve_layers(name: str, layers, in_channels, num_classes, input_size, fc_in_for) -> tuple:
    """Merge the reference-chapter-style ``layers`` tuple with the keyword arguments and compute ``fc_in``."""
    if len(layers) != 7:
        raise ValueError(
            f"{name}: layers must have 7 entries "
            f"(in, conv1, conv2, fc_in, fc1, fc2, classes), got {len(layers)}."
        )
    bad = [v for i, v in enumerate(layers) if i != 3 and not (isinstance(v, int) and v > 0)]
    if bad:
        raise ValueError(
            f"{name}: layers must hold positive whole numbers (fc_in may be None), got {tuple(layers)}. "
            "Use e.g. (1, 6, 16, None, 120, 84, 10)."
        )
    in_channels = in_channels or layers[0]
    num_classes = num_classes or layers[6]
    input_size = input_size or (28 if in_channels == 1 else 32)  # MNIST or CIFAR-10 by default
    side = fc_in_for(input_size)
    if side < 1:
        raise ValueError(f"{name}: input size {input_size} is too small for its convolutions.")
    fc_in = layers[2] * side * side
    if layers[3] is not None and layers[3] != fc_in:
        raise ValueError(
            f"{name}: layers[3]={layers[3]} does not fit a {input_size}x{input_size} input: the "
            f"convolutions give {layers[2]}x{side}x{side} = {fc_in} features. Pass None to have it "
            f"computed, or input_size that matches your images."
        )
    return in_channels, layers[1], layers[2], fc_in, layers[4], layers[5], num_classes, input_size


class ConvClassifier(CourseModel):
    """What LeNet5 and MiniVGGNet share: the reference-chapter-style ``layers`` tuple, the input check and the
    fully connected head. Subclasses build their convolutions and define ``features(x)``, which maps
    the input to the last feature maps (N, conv2 channels, side, side)."""

    def __init__(self, layers, in_channels, num_classes, input_size, side_after_convs):
        super().__init__()
        sizes = _resolve_layers(
            type(self).__name__, layers, in_channels, num_classes, input_size, side_after_convs
        )
        self.in_channels, c1, c2, fc_in, f1, f2, self.num_classes, self.input_size = sizes
        self.layers = (self.in_channels, c1, c2, fc_in, f1, f2, self.num_classes)

    def _canonical_args(self, args: dict) -> dict:
        # LeNet5(), LeNet5(in_channels=1) and LeNet5((1, 6, 16, 400, 120, 84, 10)) are one network:
        # record the resolved layers tuple and input size.
        return args | {
            "layers": list(self.layers),
            "in_channels": None,
            "num_classes": None,
            "input_size": self.input_size,
        }

    def _build_head(self, dropout: float) -> None:
        """FC fc_in -> f1 -> f2 -> classes, with dropout after the hidden layers (called after the convs,
        so that printing the model lists the layers in order)."""
        fc_in, f1, f2, classes = self.layers[3:]
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(fc_in, f1)
        self.fc2 = nn.Linear(f1, f2)
        self.fc3 = nn.Linear(f2, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self, x)
        x = torch.flatten(self.features(x), 1)
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        return F.log_softmax(self.fc3(x), dim=1)


class LeNet5(ConvClassifier):
    """LeNet-5 with ReLU: conv5x5(pad 2) -> pool -> conv5x5 -> pool -> FC 120 -> FC 84 -> FC classes.

    Input (N, C, S, S) -> log-probabilities (N, classes). 61,706 parameters for 1x28x28 and 10
    classes; 83,126 for 3x32x32.
    """

    def __init__(
        self,
        layers: Layers = (1, 6, 16, None, 120, 84, 10),
        *,
        in_channels: int | None = None,
        num_classes: int | None = None,
        input_size: int | None = None,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__(
            layers, in_channels, num_classes, input_size, lambda s: conv_output_size(s // 2, 5) // 2
        )
        c_in, c1, c2 = self.layers[:3]
        self.conv1 = nn.Conv2d(c_in, c1, 5, padding=2)  # same size
        self.conv2 = nn.Conv2d(c1, c2, 5)  # size - 4
        self.bn1, self.bn2 = _norm(c1, batch_norm), _norm(c2, batch_norm)
        self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2)  # modules, so a summary lists them
        self._build_head(dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.bn1(self.conv1(x))))
        return self.pool2(F.relu(self.bn2(self.conv2(x))))


class MiniVGGNet(ConvClassifier):
    """Two VGG blocks of 3x3 convolutions, each followed by max-pooling, then FC 120 -> 84 -> classes.

    Block 1: conv(c1) -> conv(c1); block 2: conv(c2) -> conv(c2, padding 1). 123,502 parameters on
    MNIST (1x28x28), 166,030 on CIFAR-10 (3x32x32).
    """

    def __init__(
        self,
        layers: Layers = (1, 16, 32, None, 120, 84, 10),
        *,
        in_channels: int | None = None,
        num_classes: int | None = None,
        input_size: int | None = None,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__(layers, in_channels, num_classes, input_size, lambda s: (((s - 4) // 2) - 2) // 2)
        c_in, c1, c2 = self.layers[:3]
        self.conv11 = nn.Conv2d(c_in, c1, 3)
        self.conv12 = nn.Conv2d(c1, c1, 3)
        self.conv21 = nn.Conv2d(c1, c2, 3)
        self.conv22 = nn.Conv2d(c2, c2, 3, padding=1)
        self.bn11, self.bn12 = _norm(c1, batch_norm), _norm(c1, batch_norm)
        self.bn21, self.bn22 = _norm(c2, batch_norm), _norm(c2, batch_norm)
        self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2)  # modules, so a summary lists them
        self._build_head(dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn11(self.conv11(x)))
        x = self.pool1(F.relu(self.bn12(self.conv12(x))))
        x = F.relu(self.bn21(self.conv21(x)))
        return self.pool2(F.relu(self.bn22(self.conv22(x))))
