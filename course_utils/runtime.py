"""Where and how a run computes, stated once: the device, the precision, the memory layout, compilation.

    profile = cu.get_profile()
    runtime = cu.runtime(profile)           # e.g. "cpu | float32 | contiguous"
    model = runtime.model(cu.LeNet5())      # on the device, in the runtime's memory layout
    loaders = runtime.loaders(mnist, 128)   # train / val / test, in the same layout
    cu.train_val_model(model, ..., precision=runtime.precision)

``precision="auto"`` and the layout follow what is fast on the device (:func:`auto_precision`,
:func:`~course_utils.config.fast_channels_last`); they change the speed, not what is computed. The
command line's ``--precision``, ``--channels-last`` and ``--compile`` are overrides of the same call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ._memory import hand_back_large_blocks, release_memory
from .config import Profile, fast_bf16, fast_channels_last, get_device
from .data import Dataset
from .loaders import Augment, TensorLoader, make_loaders

__all__ = ["PRECISIONS", "Runtime", "auto_precision", "configure_process", "release_memory", "runtime"]

PRECISIONS = ("fp32", "bf16", "fp16")  # float32; bf16 autocast; fp16 autocast with a gradient scaler


def auto_precision(device: str | torch.device) -> str:
    """What ``precision="auto"`` picks on ``device``: ``"bf16"`` where bf16 runs fast (see
    :func:`~course_utils.config.fast_bf16`), ``"fp16"`` (with a gradient scaler) on CUDA GPUs without
    native bf16 (e.g. Colab's free T4), ``"fp32"`` everywhere else (AVX2 CPUs, MPS)."""
    device = torch.device(device)
    if fast_bf16(device):
        return "bf16"
    return "fp16" if device.type == "cuda" else "fp32"


def configure_process() -> None:
    """The process-wide settings a training process wants, applied by this explicit call (the lessons'
    setup cell and the command line make it): glibc hands freed activation memory back to the system
    at once (:func:`course_utils._memory.hand_back_large_blocks`; nothing where the C library is not
    glibc). Idle OpenMP threads sleeping instead of spinning (``OMP_WAIT_POLICY=PASSIVE``) must be set
    before torch loads, so the setup cell sets it before ``import torch``."""
    hand_back_large_blocks()


@dataclass(frozen=True)
class Runtime:
    """The device, ``precision`` (one of :data:`PRECISIONS`), memory layout (``channels_last``) and
    ``compile`` (``torch.compile`` the training model) of a run, and the caps of a dry run
    (``max_batches`` per loader, ``max_train_batch`` images per training batch)."""

    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    max_batches: int | None = None
    max_train_batch: int | None = None

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision={self.precision!r} is not one of {', '.join(PRECISIONS)}; "
                "cu.runtime(profile, precision='auto') picks the one that is fast on the device."
            )

    def train_batch(self, batch_size: int) -> int:
        """A training ``batch_size``, capped at ``max_train_batch`` in a dry run."""
        return batch_size if self.max_train_batch is None else min(batch_size, self.max_train_batch)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def model(self, model: nn.Module) -> nn.Module:
        """``model`` moved to the device, in the runtime's memory layout."""
        return model.to(self.device, memory_format=self.memory_format)

    def loaders(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        eval_batch_size: int = 1000,
        augment: Augment | None = None,
        seed: int = 0,
        max_train: int | None = None,
        max_eval: int | None = None,
        shard: tuple[int, int] | None = None,
        drop_last: bool = False,
    ) -> dict[str, TensorLoader]:
        """``{"train", "val", "test"}`` loaders of ``dataset`` (see
        :func:`~course_utils.loaders.make_loaders`)."""
        return make_loaders(
            dataset,
            self.train_batch(batch_size),
            eval_batch_size,
            augment,
            self.device,
            seed,
            max_train,
            max_eval,
            self.channels_last,
            self.max_batches,
            shard,
            drop_last,
        )

    def loader(
        self, dataset: Dataset, split: str, batch_size: int = 1000, limit: int | None = None
    ) -> TensorLoader:
        """One evaluation loader (in order, no augmentation) over ``dataset``'s ``split`` ("train",
        "val" or "test"), its first ``limit`` images (all when None), without building the others."""
        splits = dataset.splits()
        if split not in splits:
            raise ValueError(f"split must be one of {sorted(splits)}, got {split!r}.")
        return TensorLoader(
            splits[split].head(limit),
            batch_size,
            dataset.mean,
            dataset.std,
            device=self.device,
            channels_last=self.channels_last,
            max_batches=self.max_batches,
        )

    def __str__(self) -> str:
        names = {"fp32": "float32", "bf16": "bf16 autocast", "fp16": "fp16 autocast + gradient scaler"}
        layout = "channels_last" if self.channels_last else "contiguous"
        parts = [str(self.device), names[self.precision], layout] + (
            ["torch.compile"] if self.compile else []
        )
        cap = f" | dry run: {self.max_batches} batches per loader" if self.max_batches else ""
        cap += f", training batches of at most {self.max_train_batch}" if self.max_train_batch else ""
        return " | ".join(parts) + cap


def runtime(
    profile: Profile,
    device: str | torch.device | None = None,
    *,
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool = False,
) -> Runtime:
    """The runtime for ``profile`` on ``device`` (default: :func:`~course_utils.get_device`), with the
    profile's loader caps. ``precision``: ``"auto"`` (:func:`auto_precision`) or one of
    :data:`PRECISIONS`; ``channels_last``: None for what is fast on the device; ``compile``: whether
    :func:`~course_utils.fit` compiles the model it trains."""
    device = get_device(device)
    if precision != "auto" and precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, {', '.join(PRECISIONS)}; got {precision!r}.")
    return Runtime(
        device,
        auto_precision(device) if precision == "auto" else precision,
        fast_channels_last(device) if channels_last is None else channels_last,
        compile,
        profile.max_batches,
        profile.max_train_batch,
    )
