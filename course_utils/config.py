"""Run profiles, the data directory, the device and seeding: every knob the notebooks share.

A *profile* says how much work a notebook does. The code path is the same in every profile; only
epochs and subset sizes change:

- ``smoke``: seconds per notebook, for CI (tiny subsets, one epoch).
- ``cpu``: minutes per notebook on a laptop CPU (real data, short schedules).
- ``full``: the reference recipes, meant for a GPU.

Pick one with the ``COURSE_PROFILE`` environment variable; by default it is ``full`` when CUDA or MPS
is available and ``cpu`` otherwise.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

PROFILE_ENV = "COURSE_PROFILE"
DATA_DIR_ENV = "COURSE_DATA_DIR"
DEVICE_ENV = "COURSE_DEVICE"


@dataclass(frozen=True)
class Profile:
    """How much work each lesson does. ``None`` for a subset size means "all of it"."""

    name: str
    max_train: int | None  # training images per dataset
    max_eval: int | None  # validation / test images evaluated during a lesson
    mnist_epochs: int  # notebook 02
    small_data_epochs: int  # notebook 03 (160 training images)
    cifar_epochs: int  # notebook 04, each optimizer run
    resnet_epochs: int  # notebook 05, in-notebook ResNet-14 run
    resnet9_epochs: int  # notebook 05, ResNet9 run (the full profile is the 94% recipe)
    resnet9_max_train: int | None  # notebook 05, ResNet9 training images
    unet_epochs: int  # notebook 06
    pets_max_train: int | None  # notebook 06 training images

    def as_dict(self) -> dict:
        return asdict(self)


# The one place that defines the profiles. Notebooks read these fields instead of typing numbers.
PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        max_train=1000,
        max_eval=500,
        mnist_epochs=1,
        small_data_epochs=3,
        cifar_epochs=1,
        resnet_epochs=1,
        resnet9_epochs=1,
        resnet9_max_train=512,
        unet_epochs=1,
        pets_max_train=32,
    ),
    "cpu": Profile(
        name="cpu",
        max_train=None,
        max_eval=None,
        mnist_epochs=4,
        small_data_epochs=100,
        cifar_epochs=4,
        resnet_epochs=2,
        resnet9_epochs=1,
        resnet9_max_train=5000,
        unet_epochs=90,
        pets_max_train=None,
    ),
    "full": Profile(
        name="full",
        max_train=None,
        max_eval=None,
        mnist_epochs=10,
        small_data_epochs=100,
        cifar_epochs=25,
        resnet_epochs=40,
        resnet9_epochs=24,
        resnet9_max_train=None,
        unet_epochs=90,
        pets_max_train=None,
    ),
}


def accelerator_available() -> bool:
    """True when CUDA or Apple's MPS can be used."""
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


def get_profile(name: str | None = None) -> Profile:
    """Return the run profile: ``name`` > ``$COURSE_PROFILE`` > ``full`` on an accelerator, else ``cpu``."""
    name = name or os.environ.get(PROFILE_ENV) or ("full" if accelerator_available() else "cpu")
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"Unknown run profile {name!r}. Expected one of {sorted(PROFILES)}; "
            f"set {PROFILE_ENV}=smoke|cpu|full or pass the name explicitly."
        )
    return PROFILES[key]


def default_cache_dir() -> Path:
    """A per-user cache folder (``$XDG_CACHE_HOME/cnn-course`` or ``~/.cache/cnn-course``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnn-course"


def get_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the dataset archives live: the argument > ``$COURSE_DATA_DIR`` > the user cache."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or default_cache_dir()
    return Path(chosen).expanduser()


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the argument > ``$COURSE_DEVICE`` > CUDA > MPS > CPU."""
    chosen = device or os.environ.get(DEVICE_ENV)
    if chosen:
        return torch.device(chosen)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def fast_bf16(device: str | torch.device) -> bool:
    """Whether bf16 autocast makes training faster on ``device``: CUDA GPUs with native bf16, and
    CPUs with AVX-512 BF16 or AMX instructions. Elsewhere bf16 is emulated and slower, so the
    notebooks pass ``amp=cu.fast_bf16(device)`` and the same code runs well on every machine."""
    device = torch.device(device)
    if device.type == "cuda":  # native bf16 from Ampere (compute capability 8) on; a T4 emulates it
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":  # the checks are private torch helpers, so look before calling
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same for loaders."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (students still use the legacy global RNG)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
