"""course_utils: the code behind the notebooks of "Convolutional Neural Networks with PyTorch".

Import what a lesson needs from here::

    from course_utils import load_mnist, make_loaders, LeNet5, train_val_model, evaluate
"""

__version__ = "0.1.0"

from . import recipes
from .config import PROFILES, Profile, fast_bf16, get_data_dir, get_device, get_profile, seed_everything
from .data import (
    Dataset,
    DatasetError,
    Split,
    load_cifar10,
    load_mnist,
    load_pets,
    pet_mask,
    pets_binary,
    stratified_subset,
)
from .loaders import Augment, ImageDataset, TensorLoader, classic_loader, make_loaders
from .metrics import Accuracy, BCEDiceLoss, BinaryDice, BinaryIoU, LovaszHingeLoss, PixelAccuracy
from .models import (
    FlipTTA,
    LeNet5,
    MiniVGGNet,
    ResidualBlock,
    ResNet,
    ResNet9,
    UNet,
    build_model,
    count_parameters,
    summary,
)
from .plots import confusion_matrix, plot_confusion, plot_history, show_images, show_segmentation
from .recipes import make_optimizer, one_cycle
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
    "PROFILES",
    "Profile",
    "get_data_dir",
    "get_device",
    "fast_bf16",
    "get_profile",
    "seed_everything",
    "Dataset",
    "DatasetError",
    "Split",
    "load_cifar10",
    "load_mnist",
    "load_pets",
    "pet_mask",
    "pets_binary",
    "stratified_subset",
    "Augment",
    "ImageDataset",
    "TensorLoader",
    "classic_loader",
    "make_loaders",
    "Accuracy",
    "BCEDiceLoss",
    "LovaszHingeLoss",
    "BinaryDice",
    "BinaryIoU",
    "PixelAccuracy",
    "FlipTTA",
    "LeNet5",
    "MiniVGGNet",
    "ResidualBlock",
    "ResNet",
    "ResNet9",
    "UNet",
    "build_model",
    "count_parameters",
    "summary",
    "CheckpointError",
    "TrainingDiverged",
    "evaluate",
    "run_epoch",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
    "train_val_model",
    "make_optimizer",
    "one_cycle",
    "recipes",
    "confusion_matrix",
    "plot_confusion",
    "plot_history",
    "show_images",
    "show_segmentation",
]
