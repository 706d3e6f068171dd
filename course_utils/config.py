"""Run profiles, the data directory, the device and seeding: every knob the notebooks share.

A *profile* says how much work a notebook does. The code path is the same in every profile; only
epochs and subset sizes change:

- ``smoke``: seconds per notebook, for CI (tiny subsets, one epoch).
- ``cpu``: minutes per notebook on a laptop CPU (real data, short schedules).
- ``full``: the reference recipes, meant for a GPU.

Pick one with the ``COURSE_PROFILE`` environment variable; by default it is ``full`` when CUDA or MPS
is available and ``cpu`` otherwise. ``COURSE_DRY_RUN=1`` keeps the profile's code path but caps every
loader at two batches, every training batch at 32 images, every evaluation subset at 50 images and every
training at two epochs (as Lightning's
``fast_dev_run``): the ``full`` profile then runs on a CPU in minutes, to catch what breaks only
there; headline self-checks are skipped in that mode.

This module is the one place that reads the course's environment variables (``COURSE_PROFILE``,
``COURSE_DRY_RUN``, ``COURSE_DATA_DIR``, ``COURSE_DEVICE``); everything else takes arguments.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DATA_DIR_ENV",
    "DEVICE_ENV",
    "DRY_RUN_BATCHES",
    "DRY_RUN_BATCH_SIZE",
    "DRY_RUN_ENV",
    "DRY_RUN_EPOCHS",
    "DRY_RUN_EVAL_IMAGES",
    "PROFILES",
    "PROFILE_ENV",
    "Profile",
    "accelerator_available",
    "cpu_capability",
    "default_cache_dir",
    "fast_bf16",
    "fast_channels_last",
    "get_data_dir",
    "get_device",
    "get_profile",
    "seed_everything",
]

PROFILE_ENV = "COURSE_PROFILE"
DATA_DIR_ENV = "COURSE_DATA_DIR"
DEVICE_ENV = "COURSE_DEVICE"
DRY_RUN_ENV = "COURSE_DRY_RUN"
DRY_RUN_BATCHES = 2
DRY_RUN_EPOCHS = 2  # a dry run trains every model for at most this many epochs
DRY_RUN_BATCH_SIZE = 32  # and trains on batches of at most this many images (a GPU's 512 is not a dry run)
# and evaluates at most this many images: two of the smallest evaluation batches (25, lesson 06)
DRY_RUN_EVAL_IMAGES = 50


@dataclass(frozen=True)
class Profile:
    """How much work each lesson does. ``None`` for a subset size means "all of it".

    A profile holds what is global (subset caps, batch caps, the dry run) and the settings of the lessons
    that write their loops out (02-04) or repeat runs (seeds, self-check targets). Every training run
    that :func:`course_utils.fit` makes takes its per-profile values from its recipe
    (:meth:`course_utils.recipes.Recipe.for_profile`).
    """

    name: str
    max_train: int | None  # training images per dataset
    max_eval: int | None  # validation / test images evaluated during a lesson
    mnist_epochs: int  # notebook 02
    small_data_epochs: int  # notebook 03 (160 training images)
    small_data_seeds: int  # notebook 03, runs per recipe
    small_data_val: int | None  # notebook 03, validation images checked every epoch
    cifar_epochs: int  # notebook 04, each optimizer run
    cifar_seeds: int  # notebook 04, runs of the best recipe (its seed-to-seed spread is the noise level)
    cifar_target: (
        float  # notebook 04, the self-check's test accuracy (the reference chapter: 75.5 % in 25 epochs)
    )
    unet_target: float  # notebook 06: the self-check's test pet IoU for the in-notebook U-Net
    transfer_seeds: int  # notebook 07, runs per setting
    blocks_seeds: int  # notebook 09, runs per block family
    imagenet_transfer: bool  # notebook 07: also fine-tune torchvision's ImageNet ResNet-18 (a 45 MB download)
    max_batches: int | None = None  # batches per pass over any loader: None = all (2 in a dry run)
    max_train_batch: int | None = None  # images per training batch: None = as asked (32 in a dry run)

    @property
    def dry_run(self) -> bool:
        return self.max_batches is not None

    @property
    def checks(self) -> bool:
        """Whether the lessons assert their headline results: in ``cpu`` and ``full``, not in ``smoke``
        (tiny subsets) nor in a dry run (two batches)."""
        return self.name != "smoke" and not self.dry_run

    def check(self, what: str, value: float, minimum: float, fmt: str = ".2%") -> None:
        """A lesson's self-check: print ``what`` and assert ``value >= minimum`` where :attr:`checks`
        holds; elsewhere print that the check is skipped, and why."""
        line = f"self-check: {what} {value:{fmt}} (target >= {minimum:{fmt}})"
        if not self.checks:
            why = "dry run: 2 batches per loader" if self.dry_run else "smoke profile: tiny subsets"
            print(f"{line}: skipped ({why})")
            return
        if not value >= minimum:
            raise AssertionError(
                f"{line}: FAILED. The lesson did not reach its result; re-run it on a fresh kernel, and "
                "if it fails again, report it with this output."
            )
        print(f"{line}: passed")

    def as_dict(self) -> dict:
        return asdict(self)


# The one place that defines the profiles, one line per field: (smoke, cpu, full, cap in a dry run).
# Notebooks read these fields instead of typing numbers. The dry-run cap (None: none) is stated here,
# field by field; None as a value means "all images", which a dry run turns into its cap.
_FIELDS: dict[str, tuple] = {
    "max_train": (1000, None, None, None),
    "max_eval": (100, None, None, DRY_RUN_EVAL_IMAGES),
    "mnist_epochs": (1, 4, 10, DRY_RUN_EPOCHS),
    "small_data_epochs": (3, 100, 100, DRY_RUN_EPOCHS),
    "small_data_seeds": (1, 3, 3, None),
    "small_data_val": (200, 300, None, DRY_RUN_EVAL_IMAGES),
    "cifar_epochs": (1, 4, 25, DRY_RUN_EPOCHS),
    "cifar_seeds": (1, 3, 3, None),
    "cifar_target": (0.0, 0.60, 0.755, None),
    "unet_target": (0.0, 0.65, 0.76, None),  # full: single pass, 0.774 and 0.780 measured
    "transfer_seeds": (1, 3, 3, None),
    "imagenet_transfer": (False, False, True, None),
    "blocks_seeds": (1, 3, 3, None),
}
PROFILES: dict[str, Profile] = {
    name: Profile(name=name, **{key: values[i] for key, values in _FIELDS.items()})
    for i, name in enumerate(("smoke", "cpu", "full"))
}


def accelerator_available() -> bool:
    """True when CUDA or Apple's MPS can be used."""
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


def get_profile(name: str | None = None, dry_run: bool | None = None) -> Profile:
    """Return the run profile: ``name`` > ``$COURSE_PROFILE`` > ``full`` on an accelerator, else ``cpu``.

    ``dry_run`` (default: ``$COURSE_DRY_RUN`` is set to 1) caps every loader at two batches
    (``max_batches``), every training batch at 32 images (``max_train_batch``), and each field at the cap
    its line of the profile table states (epochs at two, evaluation subsets at 50 images): the
    profile's code path, in minutes. Recipes are capped the same way by
    :meth:`~course_utils.recipes.Recipe.for_profile`. Evaluation batches keep their size.
    """
    name = name or os.environ.get(PROFILE_ENV) or ("full" if accelerator_available() else "cpu")
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"Unknown run profile {name!r}. Expected one of {sorted(PROFILES)}; "
            f"set {PROFILE_ENV}=smoke|cpu|full or pass the name explicitly."
        )
    if dry_run is None:
        flag = os.environ.get(DRY_RUN_ENV, "").strip().lower()
        if flag not in ("", "0", "1", "false", "true"):
            raise ValueError(f"{DRY_RUN_ENV} must be 1 (dry run) or 0, got {flag!r}.")
        dry_run = flag in ("1", "true")
    profile = PROFILES[key]
    if not dry_run:
        return profile
    capped = {
        key: min(getattr(profile, key) or cap, cap)  # None (all images) becomes the cap
        for key, (*_, cap) in _FIELDS.items()
        if cap is not None
    }
    return replace(profile, max_batches=DRY_RUN_BATCHES, max_train_batch=DRY_RUN_BATCH_SIZE, **capped)


def default_cache_dir() -> Path:
    """A per-user cache folder (``$XDG_CACHE_HOME/cnn-course`` or ``~/.cache/cnn-course``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnn-course"


def get_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the dataset archives live: the argument > ``$COURSE_DATA_DIR`` > the user cache."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or default_cache_dir()
    return Path(chosen).expanduser()


def _checked_device(chosen: str | torch.device, source: str) -> torch.device:
    """``chosen`` as a device that exists here; a ValueError naming ``source`` otherwise."""
    try:
        device = torch.device(chosen)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{source}={chosen!r} is not a device name; use cpu, cuda, cuda:0 or mps.") from err
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if device.index is not None and device.index >= count or count == 0:
            raise ValueError(
                f"{source}={chosen!r}, but this machine has {count} CUDA device(s). "
                f"Use cpu{' or cuda:0' if count else ''}, or leave it unset to pick the best available."
            )
    elif device.type == "mps" and not accelerator_available():
        raise ValueError(f"{source}={chosen!r}, but MPS is not available here. Use cpu, or leave it unset.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{source}={chosen!r}: the course runs on cpu, cuda or mps.")
    return device


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the argument > ``$COURSE_DEVICE`` > CUDA > MPS > CPU.

    A requested device that this machine does not have is a ValueError that says which setting
    asked for it.
    """
    if device:
        return _checked_device(device, "device")
    if os.environ.get(DEVICE_ENV):
        return _checked_device(os.environ[DEVICE_ENV], DEVICE_ENV)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_capability() -> str:
    """The instruction set PyTorch's CPU kernels use here, e.g. ``"AVX2"`` or ``"AVX512"``.

    ``ATEN_CPU_CAPABILITY=avx2`` lowers it on a faster CPU (to measure the AVX2 class anywhere).
    """
    return torch.backends.cpu.get_cpu_capability()


def fast_bf16(device: str | torch.device) -> bool:
    """Whether bf16 autocast makes training faster on ``device``: CUDA GPUs with native bf16, and
    CPUs whose kernels run AVX-512 with BF16 or AMX instructions. Elsewhere bf16 is emulated and
    slower, so ``precision="auto"`` picks float32 there (:func:`course_utils.runtime.auto_precision`).
    Under ``ATEN_CPU_CAPABILITY=avx2`` (the AVX2 class emulated) it says no."""
    device = torch.device(device)
    if device.type == "cuda":  # native bf16 from Ampere (compute capability 8) on; a T4 emulates it
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":  # the checks are private torch helpers, so look before calling
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        native = any(getattr(torch.cpu, name, lambda: False)() for name in checks)
        return native and cpu_capability().startswith("AVX512")
    return False


def fast_channels_last(device: str | torch.device) -> bool:
    """Whether the channels_last memory layout makes convolutions faster on ``device``: on CUDA GPUs,
    and on CPUs whose kernels run AVX-512; on AVX2-only CPUs it was slower for the course's models
    (``benchmarks/RESULTS.md``, layout per CPU class)."""
    device = torch.device(device)
    if device.type == "cuda":
        return True
    return device.type == "cpu" and cpu_capability().startswith("AVX512")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same for loaders."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (students still use the legacy global RNG)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
