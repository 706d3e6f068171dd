"""First-use download: fetch a dataset with torchvision and store it once as the course's archive.

Only :func:`course_utils.data.ensure_archive` calls this, when the archive is not in the data
directory. Without a network it stops with a message that says where the archives are expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ._io import atomic_write
from .config import DATA_DIR_ENV
from .data import ARCHIVES, DatasetError

__all__ = [
    "PETS_BREEDS",
    "PETS_SIZE",
    "build_archive",
    "classification_arrays",
    "offline_error",
    "pets_arrays",
    "resize_pair",
]

PETS_SIZE = 128
# The course's subset of Oxford-IIIT Pet: two cat breeds and one dog breed (598 images).
PETS_BREEDS = ("Abyssinian", "Bengal", "american_bulldog")


def offline_error(name: str, path: Path, err: Exception) -> DatasetError:
    expected = ", ".join(ARCHIVES.values())
    return DatasetError(
        f"The {name} archive is not at {path} and downloading it failed "
        f"({type(err).__name__}: {err}).\n"
        f"Either connect to the internet once (the loader then caches the archive there), or set "
        f"{DATA_DIR_ENV} to a folder that holds the course archives ({expected}), e.g.\n"
        f"    export {DATA_DIR_ENV}=/path/to/data"
    )


def classification_arrays(train, test) -> dict[str, np.ndarray]:
    """torchvision MNIST / CIFAR10 datasets -> the archive's arrays (uint8 images and labels)."""
    arrays = {}
    for part, ds in (("train", train), ("test", test)):
        data = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
        arrays[f"x_{part}"] = data.astype(np.uint8)
        arrays[f"y_{part}"] = np.asarray(ds.targets, dtype=np.uint8)
    if hasattr(train, "classes"):
        arrays["class_names"] = np.asarray(train.classes)
    return arrays


def resize_pair(image: Image.Image, trimap: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Image resized bilinearly, trimap with NEAREST so that its values stay exactly 1/2/3."""
    size = (PETS_SIZE, PETS_SIZE)
    img = np.asarray(image.convert("RGB").resize(size, Image.BILINEAR), dtype=np.uint8)
    mask = np.asarray(trimap.resize(size, Image.NEAREST), dtype=np.uint8)
    return img, mask


def pets_arrays(splits: dict) -> dict[str, np.ndarray]:
    """torchvision ``OxfordIIITPet(target_types="segmentation")`` splits -> the archive's arrays.

    ``splits`` maps "train" (the official trainval) and "test" to dataset objects whose items are
    ``(PIL image, PIL trimap)`` and which expose ``_images`` (file paths) and ``_labels`` (0-36).
    Only the course's three breeds (:data:`PETS_BREEDS`) are kept.
    """
    arrays = {}
    breed_names = set()
    for part, ds in splits.items():
        xs, ms, names, hw, breeds, species, class_ids = [], [], [], [], [], [], []
        for i in range(len(ds)):
            name = Path(ds._images[i]).stem
            breed = name.rsplit("_", 1)[0]
            if breed not in PETS_BREEDS:
                continue
            image, trimap = ds[i]
            img, mask = resize_pair(image, trimap)
            xs.append(img)
            ms.append(mask)
            names.append(name)
            hw.append((image.height, image.width))
            breeds.append(breed)
            species.append(1 if breed[0].isupper() else 2)  # the dataset's rule: cats capitalised
            class_ids.append(int(ds._labels[i]) + 1)
            breed_names.add(breed)
        arrays |= {
            f"x_{part}": np.stack(xs),
            f"m_{part}": np.stack(ms),
            f"names_{part}": np.asarray(names),
            f"orig_hw_{part}": np.asarray(hw, dtype=np.int32),
            f"breed_{part}": np.asarray(breeds),
            f"species_{part}": np.asarray(species, dtype=np.uint8),
            f"class_id_{part}": np.asarray(class_ids, dtype=np.uint8),
        }
    arrays["breed_names"] = np.asarray(sorted(breed_names))
    return arrays


def build_archive(name: str, path: Path) -> None:
    """Download ``name`` with torchvision into ``path.parent/raw`` and write the archive at ``path``."""
    from torchvision import datasets  # imported here: the common path never needs it

    raw = path.parent / "raw"
    print(f"{path.name} not found in {path.parent}: downloading {name} once with torchvision ...")
    try:
        if name == "mnist":
            parts = [datasets.MNIST(raw, train=t, download=True) for t in (True, False)]
            arrays = classification_arrays(*parts)
        elif name == "cifar10":
            parts = [datasets.CIFAR10(raw, train=t, download=True) for t in (True, False)]
            arrays = classification_arrays(*parts)
        elif name == "pets":
            splits = {
                part: datasets.OxfordIIITPet(raw, split=split, target_types="segmentation", download=True)
                for part, split in (("train", "trainval"), ("test", "test"))
            }
            arrays = pets_arrays(splits)
        else:
            raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(ARCHIVES)}")
    except (OSError, RuntimeError) as err:  # URLError is an OSError; torchvision raises both
        raise offline_error(name, path, err) from err
    atomic_write(path, lambda file: np.savez_compressed(file, **arrays))
    print(f"saved {path}")
