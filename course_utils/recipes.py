"""Every training run of the course, stated once: a :class:`Recipe` is the model, the data and every
hyper-parameter in one visible place, checked when it is made, with the values each profile changes.

    recipe = cu.RECIPES["unet_pets"].for_profile(profile)   # the cpu profile's epochs and width
    result = cu.fit(recipe, pets, runtime)                   # course_utils.train.fitting

:data:`RECIPES` names them all; ``python -m course_utils.train --recipe NAME`` runs the same ones.
The recipe builds what it names: :meth:`Recipe.build_model`, :meth:`Recipe.make_optimizer`,
:meth:`Recipe.make_scheduler`, :meth:`Recipe.make_criterion`, :meth:`Recipe.make_metric`.

**The batch-size rule.** When a profile changes the batch size and does not state a learning rate,
the learning rate follows the batch size linearly (Goyal et al., 2017, https://arxiv.org/abs/1706.02677):
``lr x new batch / recipe batch``. A dry run caps the training batch in the runtime instead and leaves the
learning rate alone: it checks the code path, not the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace

import torch
import torch.nn as nn

from .config import DRY_RUN_EPOCHS, PROFILES, Profile
from .data import Dataset, load_cifar10, load_mnist, load_pets, pet_breeds, pets_binary
from .loaders import Augment
from .losses import BCEDiceLoss
from .metrics import Accuracy, BinaryIoU
from .models import MODELS, FlipTTA, build_model
from .optim import (
    OPTIMIZERS,
    check_momentum_and_decay,
    check_positive,
    make_optimizer,
    one_cycle,
    triangle_schedule,
)
from .pretrained import load_pretrained
from .train.loop import evaluate
from .transfer import FrozenBackbone, imagenet_resnet18, param_groups, resize_images

__all__ = ["DATA", "LOSSES", "METRICS", "RECIPES", "SCHEDULES", "Recipe", "load_data", "tta_accuracy"]

SCHEDULES = ("none", "onecycle", "triangle")
DATA = ("mnist", "cifar10", "pets", "pet_breeds")
LOSSES = ("cross_entropy", "nll", "bce_dice", "bce")
METRICS = ("acc", "iou")
STATS = (None, "resnet14_cifar10", "imagenet")  # how load_data normalises: the data's own, a checkpoint's
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # as torchvision documents them
EXTRA_MODELS = ("tv_resnet18",)  # torchvision's ResNet-18 with ImageNet weights (needs a network)
_NOT_IN_PROFILES = ("name", "profiles", "profile", "notes")


def _check_choice(name: str, value, choices) -> None:
    """``value`` is one of ``choices``; the error names the field, the value and the choices."""
    if value not in choices:
        shown = ", ".join(str(c) for c in choices)
        raise ValueError(f"Recipe {name}={value!r} is not one of the choices: {shown}.")


class _FrozenDict(dict):
    """A dict that refuses changes and can be hashed: a recipe's ``model_args`` and ``profiles``."""

    def __hash__(self):
        return hash(tuple(sorted(self.items())))

    def _refuse(self, *args, **kwargs):
        raise TypeError("A recipe cannot be changed in place: make a changed copy with recipe.replace(...).")

    def __reduce__(self):  # copy and pickle rebuild it whole, without setting items one by one
        return (_FrozenDict, (dict(self),))

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse


def _frozen(value):
    """``value`` with every dict made a :class:`_FrozenDict` and every list a tuple, all the way down."""
    if isinstance(value, Mapping):
        return _FrozenDict({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value):
    """The opposite of :func:`_frozen`: plain dicts and lists (what models and JSON files take)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _smaller(a: int | None, b: int | None) -> int | None:
    """The smaller of two caps, None meaning "no cap"."""
    return b if a is None else a if b is None else min(a, b)


@dataclass(frozen=True)
class Recipe:
    """A named training run: model, data and hyper-parameters, and what each profile changes.

    Immutable and hashable: ``model_args`` and ``profiles`` are frozen when the recipe is made (lists
    become tuples), so copies share nothing that could change. Every field with a fixed set of values
    is checked then, and the error names the field, the value and the choices.
    """

    name: str
    model: str  # a name in course_utils.models.MODELS (or "tv_resnet18")
    data: str  # mnist, cifar10, pets (binary masks, border ignored) or pet_breeds
    epochs: int
    batch_size: int
    optimizer: str  # sgd, nesterov, adam, adamw
    lr: float  # the peak learning rate with a schedule (the head's, with backbone_lr_factor)
    model_args: Mapping = field(default_factory=dict)  # beyond what the data decides (classes, channels)
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"  # "none", "onecycle" or "triangle", stepped every batch
    warmup: float = 0.25  # share of the steps spent warming up (onecycle, triangle)
    label_smoothing: float = 0.0
    augment: Augment | None = None
    loss: str = "cross_entropy"  # cross_entropy, nll (log-probabilities), bce_dice or bce (segmentation)
    metric: str = "acc"  # acc or iou: the highest validation value selects the epoch
    init: str | None = None  # a packaged checkpoint to start from, with a new head for the data's classes
    freeze: tuple = ()  # top-level layers whose parameters stay fixed (batch-norm statistics still move)
    freeze_backbone: bool = False  # feature extraction: all but the head fixed, batch-norm statistics too
    backbone_lr_factor: float | None = None  # the backbone learns at lr x this factor (None: one group)
    head: str = "fc"  # the layer the three fields above call the head
    eval_batch_size: int = 500
    max_train: int | None = None  # the first training images only (None: all)
    max_eval: int | None = None  # the first validation images only (None: all)
    image_size: int | None = None  # load_data resizes the images to this size (classification)
    stats: str | None = None  # load_data normalises with these statistics (see STATS); None: the data's
    drop_last: bool = False  # drop each epoch's last, smaller training batch (Page's ResNet9 recipe does)
    profiles: Mapping = field(default_factory=dict)  # {"smoke": {...}, "cpu": {...}, "full": {...}}
    profile: str | None = None  # the profile this recipe was made for (for_profile), None: as written
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        """Every field with a fixed set of values is checked here, when the recipe is made: an unknown
        loss or metric would otherwise train cross-entropy or measure accuracy without a word."""
        object.__setattr__(self, "model_args", _frozen(self.model_args))
        object.__setattr__(self, "profiles", _frozen(self.profiles))
        if isinstance(self.freeze, list):
            object.__setattr__(self, "freeze", tuple(self.freeze))
        check_positive("epochs", self.epochs, whole=True)
        check_positive("batch_size", self.batch_size, whole=True)
        check_positive("eval_batch_size", self.eval_batch_size, whole=True)
        check_positive("lr", self.lr)
        for name in ("max_train", "max_eval", "image_size"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name), whole=True, fix="or None for all")
        _check_choice("model", self.model, sorted(MODELS) + list(EXTRA_MODELS))
        _check_choice("data", self.data, DATA)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("metric", self.metric, METRICS)
        _check_choice("stats", self.stats, STATS)
        check_momentum_and_decay(self.momentum, self.weight_decay)
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if self.label_smoothing and self.loss != "cross_entropy":
            raise ValueError(
                f"label_smoothing={self.label_smoothing} needs loss='cross_entropy'; {self.loss!r} has none."
            )
        if not 0 < self.warmup < 1:
            raise ValueError(
                f"warmup is the share of the steps spent warming up, in (0, 1); got {self.warmup!r}."
            )
        if self.backbone_lr_factor is not None:
            check_positive(
                "backbone_lr_factor", self.backbone_lr_factor, fix="e.g. 0.1, or None for one group"
            )
        if not (isinstance(self.freeze, tuple) and all(isinstance(name, str) for name in self.freeze)):
            raise ValueError(
                f"freeze must be a tuple of layer names, e.g. ('conv', 'bn'), got {self.freeze!r}."
            )
        segmentation = self.data == "pets"
        if (self.model == "unet") != segmentation or (self.loss in ("bce", "bce_dice")) != segmentation:
            raise ValueError(
                f"Recipe {self.name!r}: model={self.model!r}, data={self.data!r}, loss={self.loss!r} do not "
                "go together: the pet masks (data='pets') take model='unet' with loss 'bce_dice' or 'bce'; "
                "the classification data take a classifier with 'cross_entropy' or 'nll'."
            )
        if (self.metric == "iou") != segmentation:
            raise ValueError(
                f"Recipe {self.name!r}: metric={self.metric!r} does not measure data={self.data!r}."
            )
        if self.init is not None and self.init != "resnet14_cifar10":
            raise ValueError(f"Recipe init={self.init!r} is not one of the choices: None, resnet14_cifar10.")
        self._check_profiles()

    def _check_profiles(self) -> None:
        allowed = {f.name for f in fields(self)} - set(_NOT_IN_PROFILES)
        for name, changes in self.profiles.items():
            _check_choice("profiles key", name, sorted(PROFILES))
            unknown = sorted(set(changes) - allowed)
            if unknown:
                raise ValueError(
                    f"Recipe {self.name!r}, profile {name!r}: {', '.join(unknown)} is not a recipe field; "
                    f"a profile may change {', '.join(sorted(allowed))}."
                )
            try:  # each profile's values are checked now, not when the profile first runs
                self._with_profile_changes(name)
            except ValueError as err:
                raise ValueError(f"Recipe {self.name!r}, profile {name!r}: {err}") from None

    def _with_profile_changes(self, name: str, **changes) -> Recipe:
        """The profile ``name``'s changes (``model_args`` merged key by key), then ``changes``, with the
        batch-size rule; no caps."""
        merged = _plain(self.profiles.get(name, {})) | changes
        if "model_args" in self.profiles.get(name, {}) or "model_args" in changes:
            merged["model_args"] = (
                _plain(self.model_args)
                | _plain(self.profiles.get(name, {}).get("model_args", {}))
                | _plain(changes.get("model_args", {}))
            )
        return replace(self, profiles={}, profile=name, **self._batch_rule(merged))

    def replace(self, **changes) -> Recipe:
        """A copy with some values changed (and checked), e.g. ``recipe.replace(epochs=2)``."""
        return replace(self, **changes)

    def adjusted(self, **changes) -> Recipe:
        """:meth:`replace` with the batch-size rule of the module doc: a ``batch_size`` changed without
        an ``lr`` scales the learning rate by new batch / old batch."""
        return self.replace(**self._batch_rule(changes))

    def _batch_rule(self, changes: dict) -> dict:
        """``changes`` with the batch-size rule applied: a new ``batch_size`` without an ``lr`` scales it."""
        if "batch_size" in changes and "lr" not in changes:
            changes = changes | {"lr": self.lr * changes["batch_size"] / self.batch_size}
        return changes

    def for_profile(self, profile: Profile, **changes) -> Recipe:
        """This recipe as ``profile`` runs it: the profile's changes from :attr:`profiles` (``model_args``
        merged key by key), then ``changes`` (e.g. the command line's options), the batch-size rule of the
        module doc, and last the profile's global caps (``max_train``, ``max_eval``; in a dry run, at most
        two epochs), which no change lifts. The result keeps :attr:`profiles` as a record."""
        if self.profile is not None:
            raise ValueError(
                f"Recipe {self.name!r} is already the {self.profile!r} profile's; call for_profile on "
                f"the registered recipe, cu.RECIPES[{self.name!r}]."
            )
        recipe = self._with_profile_changes(profile.name, **changes).replace(profiles=self.profiles)
        caps = {
            "max_train": _smaller(recipe.max_train, profile.max_train),
            "max_eval": _smaller(recipe.max_eval, profile.max_eval),
        }
        if profile.dry_run:
            caps["epochs"] = min(recipe.epochs, DRY_RUN_EPOCHS)
        return recipe.replace(**caps)

    # ---- what the recipe builds ----------------------------------------------------------------
    def build_model(self, data: Dataset) -> nn.Module:
        """The model for ``data`` (its classes and channels), on the CPU: random weights (drawn from
        torch's global generator), or :attr:`init`'s weights with a new head; then the frozen parts."""
        if self.model == "tv_resnet18":
            model = imagenet_resnet18(data.num_classes)
            if model is None:
                raise ValueError(
                    "Recipe model='tv_resnet18' needs torchvision's ImageNet weights, which could not be "
                    "downloaded (no network). Run it where a network is available, or pass model=."
                )
        elif self.init is not None:
            model, _ = load_pretrained(self.init)
            model.reset_classifier(data.num_classes)
        else:
            model = build_model(self.model, **self._model_args(data))
        layers = dict(model.named_children())
        unknown = [name for name in self.freeze if name not in layers]
        if unknown:
            raise ValueError(
                f"freeze names {unknown}, which the model does not have; its layers: {list(layers)}."
            )
        for name in self.freeze:
            layers[name].requires_grad_(False)
        return FrozenBackbone(model, self.head) if self.freeze_backbone else model

    def _model_args(self, data: Dataset) -> dict:
        """:attr:`model_args` plus what the data decides (channels, classes, input size)."""
        channels, size = data.image_shape[0], data.image_shape[1]
        if self.model == "unet":
            return {"in_channels": channels, "out_channels": 1} | _plain(self.model_args)
        args = {"num_classes": data.num_classes, "in_channels": channels}
        if self.model in ("lenet5", "minivgg"):
            args["input_size"] = size
        return args | _plain(self.model_args)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer over ``model``'s parameters; with :attr:`backbone_lr_factor`, two parameter
        groups: the head at :attr:`lr`, the rest at ``lr x backbone_lr_factor``."""
        params = model.parameters()
        if self.backbone_lr_factor is not None:
            params = param_groups(model, self.lr, self.lr * self.backbone_lr_factor, self.head)
        return make_optimizer(self.optimizer, params, self.lr, self.momentum, self.weight_decay)

    def make_scheduler(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
        """The per-batch schedule (or None) over :attr:`epochs`, peaking at each group's rate."""
        if self.schedule == "onecycle":
            peaks = [group["lr"] for group in optimizer.param_groups]
            return one_cycle(optimizer, peaks, self.epochs, steps_per_epoch, self.warmup)
        if self.schedule == "triangle":
            peaks = [group["lr"] for group in optimizer.param_groups]
            return triangle_schedule(optimizer, peaks, self.epochs * steps_per_epoch, self.warmup)
        return None

    def make_criterion(self) -> nn.Module:
        """The loss. ``cross_entropy`` also takes the classifiers' log-probabilities (``log_softmax``
        leaves them unchanged), so label smoothing works with them."""
        if self.loss in ("bce_dice", "bce"):  # bce: the same masked BCE, without the Dice term
            return BCEDiceLoss(dice_weight=1.0 if self.loss == "bce_dice" else 0.0)
        if self.loss == "nll":
            return nn.NLLLoss()
        return nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)

    def make_metric(self):
        return BinaryIoU() if self.metric == "iou" else Accuracy()

    def stated(self) -> dict:
        """The values this recipe states, as plain data: the fields that differ from a Recipe's defaults
        (what a lesson prints; :meth:`as_dict` has them all)."""
        values = self.as_dict()
        return {f.name: values[f.name] for f in fields(self) if f.name in values and not _is_default(self, f)}

    def as_dict(self) -> dict:
        """Plain data (for a checkpoint's metadata or a JSON report); ``profiles`` left out."""
        values = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "profiles"}
        values["augment"] = asdict(self.augment) if self.augment else None
        return values


def _is_default(recipe: Recipe, f) -> bool:
    if f.default is MISSING and f.default_factory is MISSING:
        return False
    default = f.default if f.default is not MISSING else f.default_factory()
    return getattr(recipe, f.name) == default


def load_data(recipe: Recipe, data_dir=None, val_size: int | None = None, seed: int = 0) -> Dataset:
    """The dataset ``recipe`` trains on, as the lessons prepare it: ``val_size`` validation images
    (default: 5,000; the pets 50) chosen with ``seed``, pet breeds resized to
    :attr:`~Recipe.image_size` and normalised with :attr:`~Recipe.stats`."""
    if recipe.data == "mnist":
        return load_mnist(data_dir, val_size=val_size or 5000, seed=seed)
    if recipe.data == "cifar10":
        return load_cifar10(data_dir, val_size=val_size or 5000, seed=seed)
    pets = load_pets(data_dir, val_size=val_size or 50, seed=seed)
    if recipe.data == "pets":
        return pets_binary(pets)
    data = pet_breeds(pets)
    if recipe.image_size is not None:
        data = resize_images(data, recipe.image_size)
    if recipe.stats == "imagenet":
        return data.with_stats(*IMAGENET_STATS)
    if recipe.stats is not None:
        return data.with_stats(*load_pretrained(recipe.stats)[1]["normalization"])
    return data


def tta_accuracy(model: nn.Module, loader, precision: str = "fp32") -> float:
    """Accuracy when each image's prediction averages the image and its mirror (flip TTA)."""
    return evaluate(FlipTTA(model, dense=False), loader, precision=precision)["acc"]


# ------------------------------------------------------------------------------------------------
# The registry: every recipe the course trains. Values are the `full` profile's (the published
# recipes); `profiles` says what `smoke` and `cpu` change.
# ------------------------------------------------------------------------------------------------
_CROP_FLIP = Augment(crop_padding=4, flip=True)
_SMALL = {"epochs": 1, "batch_size": 128}
_BREEDS = dict(  # lesson 07: rates chosen on validation accuracy (benchmarks/results/cpu_transfer_pets_*.log)
    model="resnet",
    model_args={"block": "basic", "layers": [2, 2, 2]},
    data="pet_breeds",
    # 48 px: near the 32x32 objects the CIFAR-10 network learnt from, with more detail. It costs about
    # twice 32 px per epoch (fine-tuning: 2.80 against 1.38 CPU-s, cpu_transfer_pets_timing.log); the
    # sweep matched 15 epochs at 48 px against 30 at 32 px (similar total cost) on 51 validation images,
    # a tie when fine-tuning: too few images to decide. Lesson 07 checks it by 3-fold
    # cross-validation on the 300 train + val images; the value stays 48, the size lesson 08's
    # packaged pets_breeds_* classifiers were trained at.
    image_size=48,
    stats="resnet14_cifar10",  # every setting sees the same data, normalised as the pretrained network's
    epochs=15,
    batch_size=32,
    optimizer="nesterov",
    weight_decay=5e-4,
    schedule="onecycle",
    profiles={"smoke": {"epochs": 1}},
)
_SKIP = dict(  # lesson 05: plain-56 against ResNet-56 (the same parameters), one short OneCycle run
    model="resnet",
    data="cifar10",
    epochs=1,
    batch_size=64,
    optimizer="nesterov",
    lr=0.1,
    weight_decay=5e-4,
    schedule="onecycle",
    augment=_CROP_FLIP,
    eval_batch_size=250,
    max_train=700 * 64,  # 700 steps of 64 images
    profiles={"smoke": {"max_train": 4 * 64}, "cpu": {"max_train": 80 * 64}},
)
# Lesson 09: BlockNets of each block family at one budget of multiply-adds (BLOCKS_MACS per 32x32 image;
# widths from cu.models.widths_for_macs in steps of 2 channels, 4 for the bottleneck; tests/test_blocks.py
# checks them; every family lands within 15 % of the budget), all with the same recipe, not
# tuned per family: AdamW with OneCycle, label smoothing, crop + flip. Weight decay applies to every
# parameter, as in the course's other recipes (the papers exempt some: MobileNet its depthwise filters,
# ConvNeXt its norms and layer scales); lesson 09 says so.
BLOCKS_MACS = 3_000_000
BLOCKS_WIDTHS = {
    "basic": (8, 16, 32),
    "bottleneck": (24, 48, 96),  # a multiple of 4: its middle width is a quarter of the output's
    "separable": (30, 60, 120),
    "inverted": (10, 20, 40),
    "mbconv": (10, 20, 40),
    "convnext": (8, 16, 32),
}
_BLOCKS = dict(
    model="blocknet",
    data="cifar10",
    epochs=30,
    batch_size=64,  # against 128: half the activation memory, and more steps in a short run
    optimizer="adamw",
    lr=3e-3,
    weight_decay=0.05,
    schedule="onecycle",
    label_smoothing=0.1,
    augment=_CROP_FLIP,
    eval_batch_size=128,  # the depthwise families evaluate 3x faster per image in batches of 128 than of 500
    profiles={
        "smoke": {"epochs": 1, "max_train": 256, "max_eval": 200},
        "cpu": {"epochs": 4, "max_train": 3000, "max_eval": 2000},  # minutes for all families on 2 cores
    },
)

_ALL = [
    # Lesson 02's recipe as benchmarks/run.py times it (figure 1).
    Recipe(
        name="lenet_mnist",
        model="lenet5",
        data="mnist",
        epochs=2,
        batch_size=128,
        optimizer="adam",
        lr=0.01,
        schedule="onecycle",
        loss="nll",
        eval_batch_size=1000,
    ),
    # Zero-padding shortcuts (He et al.'s option A, no parameters): the two differ only by `+ x`.
    Recipe(
        name="skip_plain", model_args={"block": "plain", "layers": [9, 9, 9], "shortcut": "zero_pad"}, **_SKIP
    ),
    Recipe(
        name="skip_residual",
        model_args={"block": "basic", "layers": [9, 9, 9], "shortcut": "zero_pad"},
        **_SKIP,
    ),
    # ResNet-14 on CIFAR-10 (lesson 05): the packaged checkpoint resnet14_cifar10 is the full profile.
    Recipe(
        name="resnet14",
        model="resnet",
        model_args={"block": "basic", "layers": [2, 2, 2]},
        data="cifar10",
        epochs=40,
        batch_size=256,
        optimizer="nesterov",
        lr=0.2,
        weight_decay=5e-4,
        schedule="onecycle",
        label_smoothing=0.1,
        augment=_CROP_FLIP,
        eval_batch_size=250,
        profiles={"smoke": _SMALL, "cpu": _SMALL},
    ),
    # ResNet9 after Page's DAWNBench recipe ("How to train your ResNet"): 94 % on a GPU (full).
    Recipe(
        name="resnet9",
        model="resnet9",
        data="cifar10",
        epochs=24,
        batch_size=512,
        optimizer="nesterov",
        lr=0.4,
        weight_decay=5e-4,
        schedule="triangle",
        label_smoothing=0.2,
        augment=Augment(crop_padding=4, flip=True, cutout=8),
        drop_last=True,
        eval_batch_size=100,  # its activations are wide at 32x32: small evaluation batches keep memory low
        profiles={
            "smoke": {"epochs": 1, "batch_size": 32, "max_train": 256, "max_eval": 100},
            "cpu": {"epochs": 1, "batch_size": 32, "max_train": 2048, "max_eval": 1000},
        },
    ),
    # U-Net on the Pets masks (lesson 06), chosen on validation IoU (benchmarks/RESULTS.md); the
    # packaged unet_pets (seed 0) and unet_pets_seed1 (seed 1) are the full profile. Its models predict
    # in a single pass: on the validation images flip TTA is not better (lesson 06 decides it there with
    # cu.compare), so the test split measures the single pass.
    Recipe(
        name="unet_pets",
        model="unet",
        model_args={"base_channels": 16, "batch_norm": True},
        data="pets",
        epochs=90,
        batch_size=16,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=1e-4,
        schedule="onecycle",
        augment=Augment(crop_padding=8, flip=True, rotate=10),
        loss="bce_dice",
        metric="iou",
        eval_batch_size=25,  # 25, not 50: half the memory of an evaluation
        profiles={
            "smoke": {"epochs": 1, "model_args": {"base_channels": 8}, "max_train": 32},
            "cpu": {"epochs": 45, "model_args": {"base_channels": 8}},  # 8 channels fit a CPU's budget
        },
    ),
    # Lesson 07's four settings (and the packaged pets_breeds_* classifiers that lesson 08 explains).
    Recipe(name="breeds_scratch", lr=0.2, **_BREEDS),
    Recipe(
        name="breeds_frozen",
        lr=0.1,
        init="resnet14_cifar10",
        freeze_backbone=True,
        backbone_lr_factor=0.1,
        **_BREEDS,
    ),
    Recipe(name="breeds_finetune", lr=0.1, init="resnet14_cifar10", backbone_lr_factor=0.1, **_BREEDS),
    Recipe(
        name="breeds_finetune_aug",
        lr=0.1,
        init="resnet14_cifar10",
        backbone_lr_factor=0.1,
        augment=Augment(crop_padding=6, flip=True, color=0.1),
        **_BREEDS,
    ),
    # Lesson 07, full profile: torchvision's ImageNet ResNet-18 fine-tuned on the breeds at 128x128.
    Recipe(
        name="breeds_imagenet",
        model="tv_resnet18",
        data="pet_breeds",
        stats="imagenet",
        epochs=15,
        batch_size=32,
        optimizer="nesterov",
        lr=0.01,
        weight_decay=5e-4,
        schedule="onecycle",
        backbone_lr_factor=0.1,
        augment=Augment(crop_padding=6, flip=True, color=0.1),
        eval_batch_size=100,
        profiles={"smoke": {"epochs": 1}},
    ),
    *(
        Recipe(name=f"blocks_{family}", model_args={"family": family, "widths": widths}, **_BLOCKS)
        for family, widths in BLOCKS_WIDTHS.items()
    ),
]
RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in _ALL}
