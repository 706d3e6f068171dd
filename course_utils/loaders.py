"""Batches from in-memory uint8 tensors, and the classic per-sample ``Dataset``/``DataLoader`` path.

:class:`TensorLoader` keeps a whole split as uint8 on the training device and builds each batch with
a handful of tensor operations: index, (augment), convert to float, normalise. A ``DataLoader`` with
``ToTensor()`` + ``Normalize()`` instead runs Python code and a PIL conversion for every image; the
benchmark ``benchmarks/bench_data.py`` measures the difference.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader

from .data import Split

__all__ = ["Augment", "ImageDataset", "TensorLoader", "classic_loader", "make_loaders"]


@dataclass(frozen=True)
class Augment:
    """Batch-level augmentation: random crop after zero padding, and horizontal flip."""

    crop_padding: int = 4  # pixels of zero padding before a random crop back to size (0 = off)
    flip: bool = True  # flip half of the images left-right
    mask_fill: int = 255  # value padded into segmentation masks (the ignore index)
    cutout: int = 0  # side of a square set to the mean (0 after normalisation) in each image; 0 = off
    rotate: float = 0.0  # rotate each image by a random angle in [-rotate, rotate] degrees; 0 = off
    zoom: float = 0.0  # scale each image by a random factor in [1 - zoom, 1 + zoom]; 0 = off
    color: float = 0.0  # contrast x [1 - color, 1 + color] and brightness +-color (in std units); 0 = off
    fill: str = (
        "mean"  # corners uncovered by rotate/zoom: "mean" (0 after normalisation) or "black" (pixel 0)
    )

    def __post_init__(self):
        for name in ("crop_padding", "cutout"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 0):
                raise ValueError(
                    f"Augment: {name} must be a whole number of pixels >= 0 (0 = off), got {value!r}."
                )
        for name, high in (("rotate", 180.0), ("zoom", 1.0), ("color", 1.0)):
            value = getattr(self, name)
            if not 0 <= value < high:
                raise ValueError(f"Augment: {name} must be in [0, {high:g}) (0 = off), got {value!r}.")
        if self.fill not in ("mean", "black"):
            raise ValueError(
                f"Augment: fill must be 'mean' or 'black' (what rotate/zoom put in the uncovered corners), "
                f"got {self.fill!r}; 'black' matches a dark background such as MNIST's."
            )

    def on_uint8(self, x, y, gen: torch.Generator):
        """Crop and flip: pixel moves, done on the uint8 batch (cheaper, and padding is black as in
        torchvision's RandomCrop)."""
        if self.crop_padding:
            x, y = _random_crop(x, y, self.crop_padding, gen, self.mask_fill)
        if self.flip:
            x, y = _random_flip(x, y, gen)
        return x, y

    def on_float(self, x, y, gen: torch.Generator, black: torch.Tensor | None = None):
        """Colour, rotation/zoom (interpolated) and cutout, on the normalised batch, where 0 is the mean.
        ``black``: pixel value 0 after normalisation, (1, C, 1, 1); needed for ``fill="black"``."""
        if self.color:
            x = _random_color(x, self.color, gen)
        if self.rotate or self.zoom:
            if self.fill == "black" and black is None:
                raise ValueError("Augment(fill='black') needs black=, the normalised value of pixel 0.")
            fill = black if self.fill == "black" else None
            x, y = _random_affine(x, y, self.rotate, self.zoom, gen, self.mask_fill, fill)
        if self.cutout:
            x = _random_cutout(x, self.cutout, gen)
        return x, y


def _random_crop(x, y, padding: int, gen: torch.Generator, mask_fill: int):
    """Pad a batch by ``padding`` and crop each image back to its size at a random offset.

    One gather with per-sample row/column indices does the whole batch; a mask ``y`` of shape
    (B, H, W) gets the same crop as its image.
    """
    b, _, h, w = x.shape
    dy, dx = torch.randint(0, 2 * padding + 1, (2, b), generator=gen, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    padded = F.pad(x, (padding,) * 4)
    x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    if y.dim() == 3:
        y = F.pad(y, (padding,) * 4, value=mask_fill)[batch, rows, cols]
    return x, y


def _random_flip(x, y, gen: torch.Generator):
    """Flip a random half of the batch left-right (masks with their images)."""
    flip = torch.rand(len(x), generator=gen, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if y.dim() == 3:
        y = torch.where(flip[:, None, None], y.flip(-1), y)
    return x, y


def _random_color(x, strength: float, gen: torch.Generator):
    """Scale each (normalised) image's contrast around its own mean by a random factor in
    [1 - strength, 1 + strength] and shift its brightness by a random amount in [-strength, strength]
    standard deviations: the same pet under other lighting."""
    draws = torch.rand(2, len(x), 1, 1, 1, generator=gen, device=x.device) * 2 - 1
    contrast, shift = 1 + strength * draws[0], strength * draws[1]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean + shift


def _random_cutout(x, size: int, gen: torch.Generator):
    """Zero a ``size`` x ``size`` square at a random place in each (normalised) image: 0 is the mean."""
    b, _, h, w = x.shape
    cy, cx = (torch.randint(0, s, (b,), generator=gen, device=x.device) for s in (h, w))
    rows = torch.arange(h, device=x.device)[None, :] - (
        cy[:, None] - size // 2
    )  # (B, H) offset in the square
    cols = torch.arange(w, device=x.device)[None, :] - (cx[:, None] - size // 2)
    inside = ((rows >= 0) & (rows < size))[:, :, None] & ((cols >= 0) & (cols < size))[:, None, :]
    return x.masked_fill(inside[:, None], 0.0)


def _random_affine(x, y, degrees: float, zoom: float, gen: torch.Generator, mask_fill: int, fill=None):
    """Rotate each (normalised) image by a random angle in [-degrees, degrees] and scale it by a random
    factor in [1 - zoom, 1 + zoom]; uncovered corners fill with ``fill`` ((1, C, 1, 1); None: 0, the
    mean), masks with ``mask_fill``."""
    angles = (torch.rand(len(x), generator=gen, device=x.device) * 2 - 1) * degrees * torch.pi / 180
    cos, sin, zero = angles.cos(), angles.sin(), torch.zeros_like(angles)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    if zoom:
        scale = 1 + zoom * (torch.rand(len(x), generator=gen, device=x.device) * 2 - 1)
        theta[:, :, :2] /= scale[:, None, None]  # the grid samples a smaller window: the image grows
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if fill is None:
        x = F.grid_sample(x, grid, mode="bilinear", align_corners=False)
    else:  # sample around the fill value, so that what lies outside the image is the fill
        x = F.grid_sample(x - fill, grid, mode="bilinear", align_corners=False) + fill
    if y.dim() == 3:  # masks: nearest, so that class values stay exact; outside = ignored
        moved = F.grid_sample(y[:, None].float() + 1, grid, mode="nearest", align_corners=False)[:, 0]
        y = torch.where(moved == 0, mask_fill, moved - 1).to(y.dtype)
    return x, y


class TensorLoader:
    """Iterate over ``(x, y)`` batches of a :class:`~course_utils.data.Split` held in memory.

    Behaves like a ``DataLoader`` for the trainer: iterable, with ``len()`` (batches per epoch) and
    ``dataset`` (the split). Images come out as float32 (B, C, H, W), normalised with ``mean``/``std``
    (on the [0, 1] scale); targets as stored (int64 labels or uint8 masks).

    Shuffling and augmentation draw from a ``torch.Generator`` seeded with ``seed``, so two loaders
    built alike yield the same batches epoch after epoch.

    ``shard=(rank, world_size)``, stated by the caller (one process of a DistributedDataParallel run):
    every process draws the same seeded order each epoch and takes ``order[rank::world_size]``, so the
    shards never overlap and together cover the split; ``batch_size`` is this process's batch, and
    ``len()`` counts this process's batches. Augmentation then draws from a generator seeded with
    ``(seed, rank)``, so that the processes crop and flip their images independently. Shards differ
    by at most one image; DistributedDataParallel needs the same number of batches on every process,
    which its caller checks (:func:`course_utils.train.distributed.check_same_steps`).
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        shuffle: bool = False,
        augment: Augment | None = None,
        drop_last: bool = False,
        device: str | torch.device = "cpu",
        seed: int = 0,
        channels_last: bool = False,
        max_batches: int | None = None,
        shard: tuple[int, int] | None = None,
    ):
        _check_shard(shard)
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive whole number, e.g. 64, got {batch_size!r}.")
        if max_batches is not None and not (isinstance(max_batches, int) and max_batches > 0):
            raise ValueError(
                f"max_batches must be a positive whole number or None (all), got {max_batches!r}."
            )
        if len(split) == 0:
            raise ValueError(
                "TensorLoader got an empty split: there is nothing to load. Check max_train/max_eval."
            )
        rank, world_size = shard or (0, 1)
        local = len(range(rank, len(split), world_size))  # this process's images
        if drop_last and local < batch_size:
            mine = f" ({local} in shard {rank} of {world_size})" if shard else ""
            raise ValueError(
                f"batch_size={batch_size} with drop_last=True leaves no batch of the {len(split)} "
                f"images{mine}: use a batch size of at most {local}, or drop_last=False."
            )
        if split.x.dtype != torch.uint8 or split.x.dim() != 4:
            raise ValueError(
                f"TensorLoader expects uint8 images of shape (N, C, H, W), got {split.x.dtype} "
                f"{tuple(split.x.shape)}; load data with course_utils.load_* first."
            )
        if len(mean) != split.x.shape[1] or len(std) != split.x.shape[1]:
            raise ValueError(
                f"mean/std need one value per channel ({split.x.shape[1]}), got {len(mean)}/{len(std)}."
            )
        if not all(v > 0 for v in std):
            raise ValueError(
                f"std must be positive for every channel (it divides the pixels), got {tuple(std)}. "
                "Use the dataset's measured std, e.g. dataset.std."
            )
        self.dataset = split
        self.batch_size = batch_size
        self.shuffle, self.augment, self.drop_last = shuffle, augment, drop_last
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.max_batches = max_batches
        self.shard, self.local_size = (tuple(shard) if shard else None), local
        self.x = split.x.to(self.device)
        self.y = split.y.to(self.device)
        shape = (1, -1, 1, 1)
        self.scale = (1 / (255 * torch.tensor(std, dtype=torch.float32))).view(shape).to(self.device)
        self.shift = (torch.tensor(mean, dtype=torch.float32) / torch.tensor(std)).view(shape)
        self.shift = self.shift.to(self.device)
        # Random draws happen where the data is, so a GPU loader never waits on the host.
        self.generator = torch.Generator(device=self.device).manual_seed(seed)  # the order (shared)
        self.augment_generator = self.generator  # one stream, as without shards
        if shard is not None:
            own_seed = int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0])
            self.augment_generator = torch.Generator(device=self.device).manual_seed(own_seed)

    def __len__(self) -> int:
        n = self.local_size
        batches = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return batches if self.max_batches is None else min(batches, self.max_batches)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float32, ``(x / 255 - mean) / std`` as one multiply-add."""
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        x = x.to(dtype=torch.float32, memory_format=memory_format)
        return torch.addcmul(-self.shift, x, self.scale)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        if self.shard is not None:
            rank, world_size = self.shard
            order = order[rank::world_size]
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            x, y = self.x[idx], self.y[idx]
            if self.augment is not None:
                x, y = self.augment.on_uint8(x, y, self.augment_generator)
            x = self.normalize(x)
            if self.augment is not None:
                x, y = self.augment.on_float(x, y, self.augment_generator, black=-self.shift)
            yield x, y


def _check_shard(shard) -> None:
    """``shard`` is None or ``(rank, world_size)`` with ``0 <= rank < world_size``."""
    if shard is None:
        return
    ok = isinstance(shard, tuple | list) and len(shard) == 2 and all(type(v) is int for v in shard)
    if not ok or not 0 <= shard[0] < shard[1]:
        raise ValueError(
            f"shard must be (rank, world_size) with 0 <= rank < world_size, e.g. (0, 2) for the first of "
            f"two processes, or None (the whole split); got {shard!r}."
        )


def make_loaders(
    dataset,
    batch_size: int,
    eval_batch_size: int = 1000,
    augment: Augment | None = None,
    device="cpu",
    seed: int = 0,
    max_train: int | None = None,
    max_eval: int | None = None,
    channels_last: bool = False,
    max_batches: int | None = None,
    shard: tuple[int, int] | None = None,
    drop_last: bool = False,
) -> dict[str, TensorLoader]:
    """``{"train", "val", "test"}`` loaders for a :class:`~course_utils.data.Dataset`.

    Only the training loader shuffles and augments (and, with ``drop_last``, drops each epoch's last,
    smaller batch). ``max_train``/``max_eval`` take the first images
    of each split (the run profiles use them to keep smoke runs short); ``max_batches`` caps every
    pass (a dry run). ``shard=(rank, world_size)``: every loader yields only this process's shard
    (see :class:`TensorLoader`), and the batch sizes are per process.
    """
    common = dict(
        mean=dataset.mean,
        std=dataset.std,
        device=device,
        channels_last=channels_last,
        max_batches=max_batches,
        shard=shard,
    )
    return {
        "train": TensorLoader(
            dataset.train.head(max_train),
            batch_size,
            shuffle=True,
            augment=augment,
            seed=seed,
            drop_last=drop_last,
            **common,
        ),
        "val": TensorLoader(dataset.val.head(max_eval), eval_batch_size, **common),
        "test": TensorLoader(dataset.test.head(max_eval), eval_batch_size, **common),
    }


# ------------------------------------------------------------------------------------------------
# The classic path: one image at a time through PIL and torchvision transforms.
# ------------------------------------------------------------------------------------------------
class ImageDataset(torch.utils.data.Dataset):
    """A torchvision-style dataset over a uint8 split: item ``i`` is ``(transform(PIL image), label)``.

    This mirrors ``torchvision.datasets.MNIST``/``CIFAR10``, which also hold uint8 arrays and build a
    PIL image per item, so notebooks can show (and time) the classic pipeline on the same data.
    """

    def __init__(self, split: Split, transform=None):
        images = split.x.permute(0, 2, 3, 1).numpy()  # PIL wants (H, W, C)
        self.images = images[..., 0] if images.shape[-1] == 1 else images
        self.targets = split.y
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = Image.fromarray(np.asarray(self.images[i]))
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[i])


def classic_loader(
    split: Split,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 64,
    shuffle: bool = False,
    num_workers: int = 0,
) -> DataLoader:
    """The seed's pipeline: ``ToTensor()`` + ``Normalize(mean, std)`` per sample in a DataLoader."""
    from torchvision import transforms  # imported here: torchvision costs memory that lessons need

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    return DataLoader(
        ImageDataset(split, transform),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
    )
