"""course_utils: the code behind the notebooks of "Convolutional Neural Networks with PyTorch".

A lesson imports the package once and uses the names below::

    import course_utils as cu

    profile = cu.get_profile()        # how much work: smoke, cpu or full
    runtime = cu.runtime(profile)     # device, precision, memory layout
    cu.configure_process()            # process-wide memory settings (the setup cell's explicit call)
    cifar = cu.load_cifar10()
    recipe = cu.RECIPES["resnet14"].for_profile(profile)
    result = cu.fit(recipe, cifar, runtime)

``__all__`` is what several lessons use. What one lesson uses is reached through its module, as
torchvision does: ``cu.explain.gradcam``, ``cu.transfer.resize_images``, ``cu.plots.show_segmentation``,
``cu.metrics.BinaryIoU``, ``cu.models.UNet``, ``cu.data.pet_mask``, ``cu.train.save_checkpoint``, ...
"""

__version__ = "0.3.0"

from . import (  # noqa: F401
    config,
    data,
    explain,
    loaders,
    losses,
    metrics,
    models,
    noise,
    optim,
    plots,
    recipes,
    train,
    transfer,
)
from .config import get_profile, seed_everything
from .data import load_cifar10, load_mnist, load_pets, pet_breeds, pets_binary, stratified_subset
from .loaders import Augment, TensorLoader
from .metrics import confusion_matrix
from .models import FlipTTA, LeNet5, MiniVGGNet, ResNet, count_parameters, gradient_norms, summary
from .noise import compare
from .optim import make_optimizer, one_cycle
from .plots import plot_confusion, plot_history, show_images
from .pretrained import load_pretrained
from .recipes import RECIPES
from .runtime import configure_process, release_memory, runtime
from .train import evaluate, fit, predict, run_epoch, train_val_model

__all__ = [
    # setting up a lesson
    "get_profile",
    "runtime",
    "configure_process",
    "seed_everything",
    "release_memory",
    # data
    "load_mnist",
    "load_cifar10",
    "load_pets",
    "pets_binary",
    "pet_breeds",
    "stratified_subset",
    "Augment",
    "TensorLoader",
    # models
    "LeNet5",
    "MiniVGGNet",
    "ResNet",
    "FlipTTA",
    "summary",
    "count_parameters",
    "gradient_norms",
    "load_pretrained",
    # training: every named run through fit; lessons 02-04 write their loops with the rest
    "RECIPES",
    "fit",
    "train_val_model",
    "run_epoch",
    "evaluate",
    "predict",
    "make_optimizer",
    "one_cycle",
    # results
    "compare",
    "confusion_matrix",
    "plot_history",
    "plot_confusion",
    "show_images",
]
