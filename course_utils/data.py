"""The course's datasets as uint8 tensors in memory, read from NumPy archives.

Each dataset lives in one archive in the data directory (see :func:`course_utils.config.get_data_dir`):

=================== =====================================================================
``mnist.npz``       ``x_train`` (60000,28,28), ``y_train``, ``x_test`` (10000,28,28), ``y_test``
``cifar10.npz``     ``x_train`` (50000,32,32,3) RGB, ``y_train``, ``x_test``, ``y_test``,
                    ``class_names``
``pets/pets_seg.npz`` ``x_{train,test}`` (N,128,128,3), ``m_{train,test}`` trimaps (1 pet,
                    2 background, 3 border), ``names_*``, ``breed_*``, ``species_*``, ...
=================== =====================================================================

All pixels are uint8. When an archive is missing, the loaders download the dataset with torchvision
once and write it in this same format (:mod:`course_utils.download`). The validation split is carved
from the training set with a fixed seed, so no choice is ever made on the test set.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import get_data_dir

__all__ = [
    "ARCHIVES",
    "BORDER",
    "CIFAR10_CLASSES",
    "Dataset",
    "DatasetError",
    "IGNORE_INDEX",
    "MNIST_CLASSES",
    "PETS_CLASSES",
    "PET_INFO_KEYS",
    "STORED_SHAPES",
    "Split",
    "archive_path",
    "channel_stats",
    "check_images",
    "check_labels",
    "ensure_archive",
    "load_cifar10",
    "load_classification",
    "load_mnist",
    "load_pets",
    "pet_breeds",
    "pet_mask",
    "pets_binary",
    "read_archive",
    "split_indices",
    "stratified_subset",
    "to_nchw",
]


class DatasetError(RuntimeError):
    """A dataset archive is missing, unreadable or does not hold what it should."""


@dataclass
class Split:
    """One split of a dataset: ``x`` uint8 images (N, C, H, W) and ``y`` targets.

    ``y`` is int64 class labels (N,) for classification, or uint8 masks (N, H, W) for segmentation.
    """

    x: torch.Tensor
    y: torch.Tensor
    info: dict[str, np.ndarray] = field(default_factory=dict)  # per-sample extras (names, breeds)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, indices: torch.Tensor | np.ndarray | list[int]) -> Split:
        """The samples at ``indices``, extras included."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        info = {k: v[idx.numpy()] for k, v in self.info.items()}
        return Split(self.x[idx], self.y[idx], info)

    def head(self, n: int | None) -> Split:
        """The first ``n`` samples (all when ``n`` is None): used by the run profiles."""
        if n is not None and not (isinstance(n, int) and n > 0):
            raise ValueError(
                f"The number of samples to keep must be a positive whole number or None, got {n!r}."
            )
        return self if n is None or n >= len(self) else self.subset(torch.arange(n))


@dataclass
class Dataset:
    """Train / validation / test splits plus what is needed to normalise and describe them."""

    name: str
    train: Split
    val: Split
    test: Split
    mean: tuple[float, ...]  # per channel, on the [0, 1] scale, measured on ``train``
    std: tuple[float, ...]
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def with_stats(self, mean: tuple[float, ...], std: tuple[float, ...]) -> Dataset:
        """The same data, normalised with another ``mean``/``std`` (e.g. a pretrained network's)."""
        if len(mean) != self.image_shape[0] or len(std) != self.image_shape[0]:
            raise ValueError(
                f"mean and std need {self.image_shape[0]} values (one per channel), got {mean}, {std}."
            )
        return Dataset(self.name, self.train, self.val, self.test, tuple(mean), tuple(std), self.class_names)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v):,}" for k, v in self.splits().items())
        return f"Dataset({self.name}: {sizes}, image {self.image_shape}, {self.num_classes} classes)"


# --------------------------------------------------------------------------------------------
# What each archive must hold. Used both to validate archives and to write new ones.
# --------------------------------------------------------------------------------------------
MNIST_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
PETS_CLASSES = ["pet", "background", "border"]  # trimap values 1, 2, 3 -> class indices 0, 1, 2

ARCHIVES = {
    "mnist": "mnist.npz",
    "cifar10": "cifar10.npz",
    "pets": "pets/pets_seg.npz",
}
# image shape per sample as stored (H, W) or (H, W, C)
STORED_SHAPES = {"mnist": (28, 28), "cifar10": (32, 32, 3), "pets": (128, 128, 3)}


def archive_path(name: str, data_dir: str | Path | None = None) -> Path:
    return get_data_dir(data_dir) / ARCHIVES[name]


def read_archive(path: Path, required: list[str]) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` archive, turning any way it can be broken into a DatasetError."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in required if k not in archive.files]
            if missing:
                raise DatasetError(
                    f"{path.name} lacks the arrays {missing} (it has {sorted(archive.files)}). "
                    "Delete it to let the loader rebuild it, or point COURSE_DATA_DIR at a good copy."
                )
            return {k: archive[k] for k in archive.files}
    except DatasetError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise DatasetError(
            f"Cannot read the archive {path}: {type(err).__name__}: {err}. The file is truncated or "
            "corrupt; delete it so that the loader downloads it again, or point COURSE_DATA_DIR at "
            "a good copy."
        ) from err


def check_images(arrays: dict, key: str, shape: tuple[int, ...], path: Path) -> None:
    x = arrays[key]
    if x.dtype != np.uint8 or x.shape[1:] != shape:
        raise DatasetError(
            f"{path.name}: {key} should be uint8 of shape (N, {', '.join(map(str, shape))}), "
            f"got {x.dtype} {x.shape}. The archive is not in the course's format."
        )
    if len(x) == 0:
        raise DatasetError(
            f"{path.name}: {key} holds no images. The archive is empty or was cut short; delete it to "
            "let the loader rebuild it, or point COURSE_DATA_DIR at a good copy."
        )


def check_labels(arrays: dict, key: str, n: int, num_classes: int, path: Path, low: int = 0) -> None:
    y = arrays[key]
    if y.shape != (n,):
        raise DatasetError(f"{path.name}: {key} should have shape ({n},), got {y.shape}.")
    if y.size and (y.min() < low or y.max() >= low + num_classes):
        raise DatasetError(
            f"{path.name}: {key} holds values in [{y.min()}, {y.max()}], "
            f"expected [{low}, {low + num_classes - 1}]. The archive is corrupt or mislabelled."
        )


def to_nchw(x: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, C) uint8 array -> contiguous (N, C, H, W) uint8 tensor."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2)
    return t.contiguous()


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std of uint8 images (N, C, H, W), on the [0, 1] scale.

    A 256-bin histogram per channel gives the exact moments without a float copy of the data (and
    without float64 tensors, which MPS lacks): the sums are done in Python on 256 counts.
    """
    means, stds = [], []
    for c in range(x.shape[1]):
        hist = torch.bincount(x[:, c].reshape(-1), minlength=256).tolist()
        n = sum(hist)
        mean = sum(v * h for v, h in enumerate(hist)) / n
        var = sum(h * (v - mean) ** 2 for v, h in enumerate(hist)) / n
        means.append(round(mean / 255, 6))
        stds.append(round(var**0.5 / 255, 6))
    return tuple(means), tuple(stds)


def split_indices(n: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random (train, val) partition of ``range(n)``; both parts sorted."""
    if not (isinstance(val_size, int) and 0 < val_size < n):
        raise ValueError(
            f"val_size must be a whole number between 1 and {n - 1} (the training set has {n} images), "
            f"got {val_size!r}. The default carves about a tenth of it."
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[val_size:].sort().values, perm[:val_size].sort().values


def stratified_subset(labels, n_per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``n_per_class`` samples of every class, drawn reproducibly with ``seed``.

    The result is shuffled (classes interleaved) so that a plain batching of it is already mixed.
    """
    if not (isinstance(n_per_class, int) and n_per_class > 0):
        raise ValueError(f"n_per_class must be a positive whole number, e.g. 16, got {n_per_class!r}.")
    labels = torch.as_tensor(labels)
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in labels.unique(sorted=True).tolist():
        members = torch.nonzero(labels == cls).flatten()
        if len(members) < n_per_class:
            raise ValueError(
                f"n_per_class={n_per_class} is impossible: class {cls} has only {len(members)} samples. "
                f"Ask for at most {len(members)}."
            )
        chosen.append(members[torch.randperm(len(members), generator=gen)[:n_per_class]])
    picked = torch.cat(chosen)
    return picked[torch.randperm(len(picked), generator=gen)]


def ensure_archive(name: str, data_dir: str | Path | None) -> Path:
    """The archive's path, downloading and converting the dataset first when it is not there."""
    path = archive_path(name, data_dir)
    if not path.exists():
        from .download import build_archive  # torchvision's datasets are only needed here

        build_archive(name, path)
    return path


def load_classification(name: str, data_dir, val_size: int, seed: int) -> Dataset:
    path = ensure_archive(name, data_dir)
    arrays = read_archive(path, ["x_train", "y_train", "x_test", "y_test"])
    classes = MNIST_CLASSES if name == "mnist" else CIFAR10_CLASSES
    for part in ("train", "test"):
        check_images(arrays, f"x_{part}", STORED_SHAPES[name], path)
        check_labels(arrays, f"y_{part}", len(arrays[f"x_{part}"]), len(classes), path)
    # Each array is dropped as soon as its copy exists: at most two copies of the images at a time
    # (CIFAR-10's training images are 150 MB each), which keeps a kernel's peak memory low.
    x, y = to_nchw(arrays.pop("x_train")), torch.from_numpy(arrays.pop("y_train").astype(np.int64))
    train_idx, val_idx = split_indices(len(x), val_size, seed)
    val = Split(x[val_idx], y[val_idx])
    train = Split(x[train_idx], y[train_idx])
    del x
    test = Split(to_nchw(arrays.pop("x_test")), torch.from_numpy(arrays.pop("y_test").astype(np.int64)))
    mean, std = channel_stats(train.x)
    return Dataset(name, train, val, test, mean, std, classes)


def load_mnist(data_dir=None, val_size: int = 5000, seed: int = 0) -> Dataset:
    """MNIST: 55,000 train / 5,000 validation (carved with ``seed``) / 10,000 test, 1x28x28 uint8."""
    return load_classification("mnist", data_dir, val_size, seed)


def load_cifar10(data_dir=None, val_size: int = 5000, seed: int = 0) -> Dataset:
    """CIFAR-10: 45,000 train / 5,000 validation / 10,000 test, 3x32x32 uint8 RGB."""
    return load_classification("cifar10", data_dir, val_size, seed)


PET_INFO_KEYS = ("names", "breed", "species", "class_id", "orig_hw")


def load_pets(data_dir=None, val_size: int = 50, seed: int = 0) -> Dataset:
    """Oxford-IIIT Pet segmentation at 128x128: the official trainval split minus ``val_size``
    validation images, and the official test split.

    ``y`` holds class indices per pixel: 0 pet, 1 background, 2 border (the trimap minus one). Use
    :func:`pet_mask` for the binary pet target.
    """
    path = ensure_archive("pets", data_dir)
    keys = [f"{k}_{s}" for s in ("train", "test") for k in ("x", "m", *PET_INFO_KEYS)]
    arrays = read_archive(path, keys)
    parts = {}
    for part in ("train", "test"):
        check_images(arrays, f"x_{part}", STORED_SHAPES["pets"], path)
        masks = arrays[f"m_{part}"]
        if masks.shape != arrays[f"x_{part}"].shape[:3] or masks.dtype != np.uint8:
            raise DatasetError(
                f"{path.name}: m_{part} should be uint8 (N, 128, 128) like x_{part}, got "
                f"{masks.dtype} {masks.shape}."
            )
        if masks.size and (masks.min() < 1 or masks.max() > 3):
            raise DatasetError(
                f"{path.name}: m_{part} holds values outside the trimap's 1/2/3 "
                f"([{masks.min()}, {masks.max()}]); masks must be resized with NEAREST only."
            )
        info = {k: arrays[f"{k}_{part}"] for k in PET_INFO_KEYS}
        parts[part] = Split(to_nchw(arrays[f"x_{part}"]), torch.from_numpy(masks - 1), info)
    train_idx, val_idx = split_indices(len(parts["train"]), val_size, seed)
    train, val = parts["train"].subset(train_idx), parts["train"].subset(val_idx)
    mean, std = channel_stats(train.x)
    return Dataset("pets", train, val, parts["test"], mean, std, PETS_CLASSES)


BORDER = 2  # class index of the trimap's border / unclassified pixels
IGNORE_INDEX = 255


def pet_mask(y: torch.Tensor, border: str = "ignore") -> torch.Tensor:
    """Binary pet target from trimap class indices: 1 pet, 0 background.

    ``border="ignore"`` marks the thin border region with 255 (left out of loss and metrics),
    ``"pet"`` counts it as pet, ``"background"`` as background.
    """
    target = (y == 0).to(torch.uint8)
    if border == "ignore":
        target[y == BORDER] = IGNORE_INDEX
    elif border == "pet":
        target[y == BORDER] = 1
    elif border != "background":
        raise ValueError(f"border must be 'ignore', 'pet' or 'background', got {border!r}.")
    return target


def pets_binary(pets: Dataset, border: str = "ignore") -> Dataset:
    """The Pets dataset with binary targets (1 pet, 0 background, 255 ignored): see :func:`pet_mask`."""
    splits = {k: Split(s.x, pet_mask(s.y, border), s.info) for k, s in pets.splits().items()}
    return Dataset("pets-binary", **splits, mean=pets.mean, std=pets.std, class_names=["background", "pet"])


def pet_breeds(pets: Dataset) -> Dataset:
    """The Pets dataset for classification: ``y`` is the breed (int64 index into ``class_names``,
    the breed names sorted), the images and extras are those of :func:`load_pets`."""
    names = sorted({b for split in pets.splits().values() for b in split.info["breed"].tolist()})
    index = {breed: i for i, breed in enumerate(names)}

    def relabel(split: Split) -> Split:
        labels = torch.tensor([index[b] for b in split.info["breed"].tolist()], dtype=torch.long)
        return Split(split.x, labels, split.info)

    splits = {k: relabel(s) for k, s in pets.splits().items()}
    return Dataset("pets-breeds", **splits, mean=pets.mean, std=pets.std, class_names=names)
