"""Where and how a lesson computes, stated once: the device, the memory layout and the precision.

    profile = cu.get_profile()
    runtime = cu.runtime(profile)           # e.g. "cpu | float32 | contiguous"
    model = runtime.model(cu.LeNet5())      # on the device, in the runtime's memory layout
    loaders = runtime.loaders(mnist, 128)   # train / val / test, in the same layout
    cu.train_val_model(model, ..., amp=runtime.amp)

The layout and precision follow what is fast on the device (:func:`~course_utils.config.fast_bf16`,
:func:`~course_utils.config.fast_channels_last`); they change the speed, not what is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ._memory import hand_back_large_blocks, release_memory
from .config import Profile, fast_bf16, fast_channels_last, get_device
from .data import Dataset
from .loaders import Augment, TensorLoader, make_loaders

__all__ = ["Runtime", "release_memory", "runtime"]


@dataclass(frozen=True)
class Runtime:
    """The device, memory layout (``channels_last``) and precision (``amp``: bf16 autocast) of a run,
    and the caps of a dry run (``max_batches`` per loader, ``max_train_batch`` images per training batch)."""

    device: torch.device
    channels_last: bool = False
    amp: bool = False
    max_batches: int | None = None
    max_train_batch: int | None = None

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
    ) -> dict[str, TensorLoader]:
        """``{"train", "val", "test"}`` loaders of ``dataset`` (see :func:`~course_utils.make_loaders`)."""
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
        layout = "channels_last" if self.channels_last else "contiguous"
        cap = f" | dry run: {self.max_batches} batches per loader" if self.max_batches else ""
        cap += f", training batches of at most {self.max_train_batch}" if self.max_train_batch else ""
        return f"{self.device} | {'bf16 autocast' if self.amp else 'float32'} | {layout}{cap}"


def runtime(profile: Profile, device: str | torch.device | None = None) -> Runtime:
    """The runtime for ``profile`` on ``device`` (default: :func:`~course_utils.get_device`): the
    layout and precision that are fast there, and the profile's loader caps. On Linux it also makes
    freed activations go back to the system at once (:func:`course_utils._memory.hand_back_large_blocks`)."""
    device = get_device(device)
    hand_back_large_blocks()  # keeps a kernel's memory near what it uses (see course_utils._memory)
    return Runtime(
        device, fast_channels_last(device), fast_bf16(device), profile.max_batches, profile.max_train_batch
    )
