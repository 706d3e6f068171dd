"""Transfer learning: start from a network trained on other data (lesson 07).

The steps, each a small function:

- :func:`resize_images`: the images at the size the pretrained network knows (uint8 kept);
- :func:`cross_validation_folds`: the training and validation images dealt into k folds, to choose a
  setting (the input size) on every one of them rather than on a 50-image validation split;
- ``model.reset_classifier(num_classes)`` (on :class:`~course_utils.ResNet`): a new head for the new classes;
- :class:`FrozenBackbone`: *feature extraction*, every layer but the head frozen, batch-norm statistics
  included (the backbone stays in eval mode while the head trains);
- :func:`param_groups`: *fine-tuning* with a smaller learning rate for the backbone than for the head;
- lesson 07's runs are the recipes ``breeds_<setting>`` of :data:`course_utils.recipes.RECIPES`, one per
  setting of :data:`SETTINGS` (their ``init``, ``freeze_backbone`` and ``backbone_lr_factor`` use the
  pieces above), trained by :func:`course_utils.fit`;
- :func:`imagenet_resnet18`: torchvision's ImageNet ResNet-18 through its weights API, where a network is
  available; offline it says so and returns None, and the caller skips it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import Dataset, Split

__all__ = [
    "SETTINGS",
    "FrozenBackbone",
    "cross_validation_folds",
    "imagenet_resnet18",
    "param_groups",
    "resize_images",
]

SETTINGS = ("scratch", "frozen", "finetune", "finetune_aug")  # lesson 07: recipes breeds_<setting>


def resize_images(dataset: Dataset, size: int) -> Dataset:
    """``dataset`` with every image resized to ``size`` x ``size`` (bilinear with antialiasing, uint8 kept).

    For classification datasets (labels, not masks): masks would need nearest-neighbour resizing.
    """
    if not (isinstance(size, int) and size > 0):
        raise ValueError(f"size must be a positive whole number of pixels, e.g. 48, got {size!r}.")
    if dataset.train.y.dim() != 1:
        raise ValueError(
            f"resize_images resizes images of a classification dataset, but {dataset.name} has masks "
            f"{tuple(dataset.train.y.shape)}: resize masks with nearest-neighbour interpolation instead."
        )

    def resized(split: Split) -> Split:
        x = F.interpolate(
            split.x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        return Split(x.round().clamp(0, 255).to(torch.uint8), split.y, split.info)

    splits = {name: resized(split) for name, split in dataset.splits().items()}
    return dataclasses.replace(dataset, name=f"{dataset.name}-{size}", **splits)


def _pooled(first: Split, second: Split) -> Split:
    """``first`` and ``second`` as one split (images, labels and the extras both have)."""
    info = {k: np.concatenate([first.info[k], second.info[k]]) for k in first.info if k in second.info}
    return Split(torch.cat([first.x, second.x]), torch.cat([first.y, second.y]), info)


def cross_validation_folds(dataset: Dataset, k: int, seed: int = 0) -> list[Dataset]:
    """``k`` datasets that share out ``dataset``'s training and validation images: in the i-th, fold i
    is the validation split and the other ``k - 1`` folds are the training split.

    The N = train + val images (N, C, H, W) are dealt into ``k`` folds of about N / k, each with about
    1 / k of every class (drawn with ``seed``), so every image is validated on exactly once over the k
    datasets. The test split and the normalisation are passed on untouched: no fold looks at the test.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be a whole number of folds, at least 2 (e.g. 5), got {k!r}.")
    pooled = _pooled(dataset.train, dataset.val)
    if pooled.y.dim() != 1:
        raise ValueError(
            f"cross_validation_folds deals out the images of a classification dataset, but {dataset.name} "
            f"has targets of shape {tuple(pooled.y.shape)}; give it class labels (N,)."
        )
    smallest = int(torch.bincount(pooled.y).min())
    if smallest < k:
        raise ValueError(
            f"k={k} folds need at least {k} images of every class, but {dataset.name}'s train + val has "
            f"{smallest} of its rarest class; use k <= {smallest}."
        )
    generator = torch.Generator().manual_seed(seed)
    fold = torch.empty(len(pooled), dtype=torch.long)
    dealt = 0  # classes continue the deal where the previous one stopped, so the folds stay even
    for label in pooled.y.unique().tolist():
        members = torch.nonzero(pooled.y == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        fold[members] = (torch.arange(len(members)) + dealt) % k
        dealt += len(members)
    return [
        dataclasses.replace(
            dataset,
            name=f"{dataset.name}-fold{i + 1}of{k}",
            train=pooled.subset(torch.nonzero(fold != i).flatten()),
            val=pooled.subset(torch.nonzero(fold == i).flatten()),
        )
        for i in range(k)
    ]


class FrozenBackbone(nn.Module):
    """Feature extraction: every parameter of ``model`` but its ``head`` frozen, and every layer but the
    head kept in eval mode even while the wrapper trains, so batch-norm keeps its pretrained statistics."""

    def __init__(self, model: nn.Module, head: str = "fc"):
        super().__init__()
        if not isinstance(getattr(model, head, None), nn.Module):
            raise ValueError(
                f"FrozenBackbone: the model has no layer {head!r} to train; name its head, e.g. 'fc'."
            )
        self.model, self.head = model, head
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(f"{head}."))

    def train(self, mode: bool = True):
        super().train(mode)
        for name, child in self.model.named_children():
            if name != self.head:
                child.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def param_groups(model: nn.Module, head_lr: float, backbone_lr: float, head: str = "fc") -> list[dict]:
    """Optimizer parameter groups: the head's trainable parameters at ``head_lr``, the others at
    ``backbone_lr`` (a group is left out when it has nothing to train)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    in_head = [p for n, p in named if f".{head}." in f".{n}"]
    backbone = [p for n, p in named if f".{head}." not in f".{n}"]
    if not in_head:
        raise ValueError(
            f"param_groups: no trainable parameter in a layer named {head!r}; name the model's head."
        )
    groups = [{"params": in_head, "lr": head_lr}]
    return groups + ([{"params": backbone, "lr": backbone_lr}] if backbone else [])


def imagenet_resnet18(num_classes: int) -> nn.Module | None:
    """torchvision's ResNet-18 with its ImageNet weights (``ResNet18_Weights.IMAGENET1K_V1``, downloaded
    once into torch's cache) and a new ``num_classes`` head; None, with a message, when the weights
    cannot be fetched (no network), so that the caller can fall back on the course's checkpoint."""
    from torchvision.models import ResNet18_Weights, resnet18

    weights = ResNet18_Weights.IMAGENET1K_V1
    hub_messages = io.StringIO()  # torch.hub prints the cache path it downloads to: a machine path
    try:
        with contextlib.redirect_stdout(hub_messages), contextlib.redirect_stderr(hub_messages):
            model = resnet18(weights=weights)
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError; torch.hub raises the others
        print(
            f"The ImageNet weights could not be loaded ({type(err).__name__}). Without a network they cannot "
            "be downloaded; the ImageNet comparison is skipped (the lesson's CIFAR-10 runs stand)."
        )
        return None
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model
