"""course_utils: the code behind the notebooks of "Convolutional Neural Networks with PyTorch".

A lesson imports the package once and uses the names below::

    import course_utils as cu

    profile = cu.get_profile()        # how much work: smoke, cpu or full
    runtime = cu.runtime(profile)     # device, memory layout, precision
    mnist = cu.load_mnist()
    model = runtime.model(cu.LeNet5())
    loaders = runtime.loaders(mnist, 128)

``__all__`` is the public surface a lesson uses. Everything else lives in the submodules
(``cu.data``, ``cu.loaders``, ``cu.models``, ``cu.train``, ``cu.recipes``, ...).
"""

import os as _os

# Before torch loads its OpenMP runtime (so only when this package is imported first, as the command line
# and the scripts do; the notebooks set it in their setup cell): idle worker threads sleep instead of
# spinning. On a 2-core AVX2 machine, 200 LeNet-5 steps took 11 to 83 s with spinning threads and about
# 5 s without (benchmarks/RESULTS.md, "Threads that spin"). A value the user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.2.0"

from . import recipes, transfer  # noqa: E402
from .config import fast_bf16, fast_channels_last, get_device, get_profile, seed_everything
from .data import (
    DatasetError,
    load_cifar10,
    load_mnist,
    load_pets,
    pet_breeds,
    pet_mask,
    pets_binary,
    stratified_subset,
)
from .explain import gradcam, mass_inside, pointing_hits, saliency
from .loaders import Augment, TensorLoader, classic_loader, make_loaders
from .losses import BCEDiceLoss
from .metrics import Accuracy, BinaryDice, BinaryIoU, PixelAccuracy, confusion_matrix
from .models import (
    Ensemble,
    FlipTTA,
    LeNet5,
    MiniVGGNet,
    PlainBlock,
    ResidualBlock,
    ResNet,
    ResNet9,
    UNet,
    count_parameters,
    gradient_norms,
    summary,
)
from .plots import plot_confusion, plot_history, show_images, show_segmentation, show_trimaps
from .pretrained import load_pretrained
from .recipes import make_optimizer, one_cycle
from .runtime import Runtime, release_memory, runtime
from .train import (
    CheckpointError,
    TrainingDiverged,
    evaluate,
    load_checkpoint,
    predict,
    run_epoch,
    save_checkpoint,
    train_val_model,
)

__all__ = [
    # setting up a lesson
    "get_profile",
    "get_device",
    "runtime",
    "Runtime",
    "seed_everything",
    "fast_bf16",
    "fast_channels_last",
    "release_memory",
    # data
    "load_mnist",
    "load_cifar10",
    "load_pets",
    "pets_binary",
    "pet_mask",
    "pet_breeds",
    "stratified_subset",
    "DatasetError",
    "Augment",
    "TensorLoader",
    "make_loaders",
    "classic_loader",
    # models
    "LeNet5",
    "MiniVGGNet",
    "ResNet",
    "ResidualBlock",
    "PlainBlock",
    "ResNet9",
    "UNet",
    "Ensemble",
    "FlipTTA",
    "summary",
    "count_parameters",
    "gradient_norms",
    "load_pretrained",
    # training and evaluation
    "train_val_model",
    "run_epoch",
    "evaluate",
    "predict",
    "make_optimizer",
    "one_cycle",
    "recipes",
    "transfer",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "TrainingDiverged",
    # metrics and losses
    "Accuracy",
    "BinaryIoU",
    "BinaryDice",
    "PixelAccuracy",
    "BCEDiceLoss",
    "confusion_matrix",
    # what a network looks at
    "gradcam",
    "saliency",
    "mass_inside",
    "pointing_hits",
    # plots
    "plot_history",
    "show_images",
    "plot_confusion",
    "show_segmentation",
    "show_trimaps",
]
