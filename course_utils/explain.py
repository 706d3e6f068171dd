"""What the network looks at: Grad-CAM and input-gradient saliency maps, and two checks of a map
against a ground-truth mask.

Both explainers take a classifier, images (N, C, H, W) normalised as for training, and the classes
to explain, and return maps (N, H, W) on the images' grid, scaled per image so that the maximum is 1
(an all-zero map stays zero, with a warning). They run the model in eval mode and leave it as they
found it: training flags restored module by module, no hook left behind, parameters' ``.grad``
untouched (the gradients are taken with :func:`torch.autograd.grad`, which does not accumulate).

Which score is explained (``score=``):

- ``"logit"`` (default): the class logit minus the mean of the logits, ``z_c - mean_j z_j``. The
  course's models return log-probabilities ``z - logsumexp(z)``; the centred value is the same for
  the logits and for the log-probabilities, so it can be read off either. It differs from the raw
  logit of Grad-CAM's paper by ``mean_j z_j``, the same for every class: the loss does not depend on
  it (softmax ignores a shift common to all logits), so it is no evidence for any class: the loss's
  gradient never moves the mean row of the last linear layer, which keeps its initial random weights
  (shrunk only by weight decay) and would add the same random map to every class's.
- ``"log_prob"``: ``log p_c``. Its gradient is ``sum_{j != c} p_j (grad z_c - grad z_j)``: evidence
  for ``c`` *against the classes that compete with it*. It fades when the model is sure
  (``p_c -> 1``) and is exactly zero once ``p_c`` rounds to 1 in float32.
- ``"output"``: the model's output as it is (log-probabilities for the course's models, logits for a
  model that returns them). This is what Captum and pytorch-grad-cam explain.

The checks compare a map with a binary mask (1 inside, 0 outside, ``ignore_index`` left out), such
as :func:`course_utils.pet_mask` of the Pets trimaps: :func:`mass_inside` (the share of the map's
mass inside the mask) and :func:`pointing_hits` (whether the map's peak is inside). A uniform map
scores the mask's share of the image, the chance level: ``mass_inside(torch.ones_like(maps), masks)``.
A map that ignores the image but knows where objects usually are (the training masks' mean, a centred
Gaussian) is a stronger baseline than that. :func:`compare_images` judges the difference of two such
per-image scores by the course's one rule (:mod:`course_utils.noise`), over the images.
"""

from __future__ import annotations

import contextlib
import difflib
import warnings
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import IGNORE_INDEX
from .noise import compare_images
from .optim import check_positive

SCORES = ("logit", "log_prob", "output")
Classes = torch.Tensor | Sequence[int] | int | None

__all__ = [
    "SCORES",
    "compare_images",
    "gradcam",
    "mass_inside",
    "pointing_hits",
    "saliency",
]


def _find_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """``(name, module)`` for a module name as in ``model.named_modules()`` or a submodule itself."""
    names = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for name, module in names.items():
            if module is layer:
                return name, module
        raise ValueError(
            f"layer is a {type(layer).__name__} that is not part of the model. Pass one of the "
            "model's own modules (e.g. model.layer3) or its name (e.g. 'layer3')."
        )
    if not isinstance(layer, str) or layer not in names:
        close = difflib.get_close_matches(str(layer), [n for n in names if n], n=5, cutoff=0.5)
        top = [n for n, _ in model.named_children()]
        hint = f"Close names: {close}." if close else f"Top-level modules: {top}."
        raise ValueError(
            f"layer {layer!r} is not a module of this {type(model).__name__}. {hint} "
            "List them all with [name for name, _ in model.named_modules()]."
        )
    return layer, names[layer]


def _check_images(model: nn.Module, images: torch.Tensor) -> None:
    """Fail early on images that are not a float batch (N, C, H, W) with the model's channel count."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"images must be a batch (N, C, H, W), got {shape}. For a single image (C, H, W), pass "
            "images.unsqueeze(0)."
        )
    if not images.is_floating_point():
        raise ValueError(
            f"images must be float tensors normalised as for training, got dtype {images.dtype}. Use "
            "the batches your loader gives the model (e.g. x from next(iter(loaders['test'])))."
        )
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is not None and first_conv.in_channels != images.shape[1]:
        raise ValueError(
            f"images have {images.shape[1]} channels (shape {tuple(images.shape)}) but the model's "
            f"first convolution expects {first_conv.in_channels}. Pass images from the dataset the "
            "model was trained on (e.g. RGB (N, 3, H, W) for CIFAR-10 and Pets)."
        )


def _class_scores(outputs: torch.Tensor, classes: Classes, score: str) -> torch.Tensor:
    """The scores (N,) to explain: ``score`` of ``outputs`` (N, num_classes) at ``classes``."""
    if outputs.dim() != 2:
        raise ValueError(
            f"the model must be a classifier returning (N, num_classes), but it returned "
            f"{tuple(outputs.shape)}. Grad-CAM and saliency here explain one class score per image."
        )
    n, num_classes = outputs.shape
    if classes is None:
        classes = outputs.argmax(dim=1)
    classes = torch.as_tensor(classes, device=outputs.device)
    if classes.is_floating_point() or classes.is_complex() or classes.dtype == torch.bool:
        raise ValueError(f"classes must be integer class indices, got dtype {classes.dtype}.")
    if classes.dim() == 0:
        classes = classes.expand(n)
    if classes.shape != (n,):
        raise ValueError(
            f"classes must give one class per image: {n} images but classes has shape "
            f"{tuple(classes.shape)}. Pass a list or LongTensor of length {n}, one int for all, or None "
            "for the predicted classes."
        )
    bad = (classes < 0) | (classes >= num_classes)
    if bad.any():
        raise ValueError(
            f"classes {classes[bad].tolist()} are out of range: the model has {num_classes} classes "
            f"(indices 0 to {num_classes - 1})."
        )
    if score == "logit":
        outputs = outputs - outputs.mean(dim=1, keepdim=True)
    elif score == "log_prob":
        outputs = F.log_softmax(outputs, dim=1)
    return outputs.gather(1, classes.long()[:, None]).squeeze(1)


def _check_score(score: str) -> None:
    if score not in SCORES:
        raise ValueError(
            f"score must be one of {SCORES}, got {score!r}. 'logit' (the default) explains the centred "
            "logit; see the course_utils.explain docstring for the others."
        )


def _normalise(maps: torch.Tensor, what: str, score: str) -> torch.Tensor:
    """Scale each map (N, H, W) of non-negative values so that its maximum is 1; warn about all-zero
    maps, which stay zero."""
    peak = maps.amax(dim=(1, 2), keepdim=True)
    empty = (peak.flatten() == 0).nonzero().flatten().tolist()
    if empty:
        why = (
            "the model may be sure of the class (p rounds to 1, so log p has no gradient): try score='logit'"
            if score == "log_prob"
            else "no location raises the score; try another layer or class"
        )
        warnings.warn(
            f"{what} map is zero everywhere for images {empty}: {why}. Those maps are returned as zeros.",
            RuntimeWarning,
            stacklevel=3,
        )
    return maps / torch.where(peak > 0, peak, torch.ones_like(peak))


@contextlib.contextmanager
def _gradients_on():
    """Autograd on, even inside the caller's ``torch.no_grad()`` or ``torch.inference_mode()``."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def _input_copy(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """A copy of ``images`` on the model's device that requires grad, so that a frozen model still
    builds a graph (the copy also turns a batch made under ``inference_mode`` into a normal tensor)."""
    return images.detach().to(next(model.parameters()).device).clone().requires_grad_(True)


class _EvalMode:
    """Context manager: the model in eval mode inside, each module's own training flag restored after."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc):
        for module, flag in self.flags:
            module.training = flag


def gradcam(
    model: nn.Module,
    layer: str | nn.Module,
    images: torch.Tensor,
    classes: Classes = None,
    score: str = "logit",
    batch_size: int = 64,
) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): where in ``layer``'s feature maps the evidence for a class is.

    With ``A_k`` the layer's feature maps (N, K, h, w) and ``alpha_k`` the spatial mean of
    ``d score / d A_k``, the map is ``ReLU(sum_k alpha_k A_k)``, upsampled (bilinear) from (h, w) to
    the images' (H, W) and scaled per image to [0, 1] (maximum 1; an all-zero map stays zero, with a
    warning).

    - ``layer``: a module name as in ``model.named_modules()`` (``"layer3"``, ``"layer3.1.conv2"``)
      or the module itself. It must output (N, K, h, w) and run once per forward pass. The last
      convolutional stage gives the usual coarse, class-specific maps; earlier layers are sharper
      and less specific.
    - ``images`` (N, C, H, W), normalised as for training. ``classes``: N class indices, one int for
      all, or None for the predicted classes. ``score``: ``"logit"``, ``"log_prob"`` or ``"output"``
      (module docstring). ``batch_size``: images per forward and backward pass (memory grows with it).

    Returns (N, H, W) in [0, 1], on the images' device.
    """
    _check_score(score)
    _check_images(model, images)
    name, module = _find_layer(model, layer)
    maps = _in_batches(images, classes, batch_size, lambda x, c: _gradcam(model, name, module, x, c, score))
    return _normalise(maps, "Grad-CAM", score).to(images.device)


def _gradcam(model, name, module, images, classes, score) -> torch.Tensor:
    """Unscaled Grad-CAM maps (N, H, W) of one batch."""
    kept, grads = [], []

    def keep(_module, _inputs, output):
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ValueError(
                f"layer {name!r} outputs {shape}, not feature maps (N, K, h, w). Pick a convolutional "
                "layer or block, e.g. the last stage ('layer3' in ResNet)."
            )
        # A copy: an in-place op after the layer (ReLU(inplace=True)) would overwrite the output. The
        # tensor hook still gets d score / d output for the value the layer returned.
        kept.append(output.detach().clone())
        output.register_hook(grads.append)

    handle = module.register_forward_hook(keep)
    try:
        with _EvalMode(model), _gradients_on():
            x = _input_copy(model, images)
            outputs = model(x)
            if len(kept) != 1:
                raise ValueError(
                    f"layer {name!r} ran {len(kept)} times in one forward pass; Grad-CAM needs a layer "
                    "that runs exactly once. "
                    + (
                        "Pick a module the forward pass uses."
                        if not kept
                        else "It is reused (e.g. one ReLU module called twice in a block, or a "
                        "wrapper such as FlipTTA): pick another layer, e.g. the enclosing block."
                    )
                )
            scores = _class_scores(outputs, classes, score)
            torch.autograd.grad(scores.sum(), x)  # fires the tensor hook; accumulates no .grad
    finally:
        handle.remove()
    if not grads:
        raise ValueError(f"the class scores do not depend on layer {name!r}: pick a layer on their path.")
    acts, grad = kept[0], grads[0]
    alpha = grad.mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
    cam = F.relu((alpha * acts).sum(dim=1, keepdim=True))  # (N, 1, h, w)
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return cam[:, 0]


def saliency(
    model: nn.Module,
    images: torch.Tensor,
    classes: Classes = None,
    score: str = "logit",
    batch_size: int = 64,
) -> torch.Tensor:
    """Input-gradient saliency (Simonyan et al. 2014): per pixel, the largest ``|d score / d x|``
    over the image's channels.

    Same arguments as :func:`gradcam` without ``layer``. Full resolution but noisy: it says which
    pixels the score is most sensitive to, not what raises it. Returns (N, H, W) in [0, 1] (maximum 1
    per image).
    """
    _check_score(score)
    _check_images(model, images)
    maps = _in_batches(images, classes, batch_size, lambda x, c: _saliency(model, x, c, score))
    return _normalise(maps, "Saliency", score).to(images.device)


def _saliency(model, images, classes, score) -> torch.Tensor:
    """Unscaled saliency maps (N, H, W) of one batch."""
    with _EvalMode(model), _gradients_on():
        x = _input_copy(model, images)
        scores = _class_scores(model(x), classes, score)
        (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad.abs().amax(dim=1)


def _in_batches(images: torch.Tensor, classes: Classes, batch_size: int, explain) -> torch.Tensor:
    """``explain(images_batch, classes_batch)`` over batches of ``batch_size``, concatenated."""
    check_positive(
        "batch_size", batch_size, whole=True, fix="lower it if memory runs out, e.g. batch_size=16"
    )
    if classes is not None and not isinstance(classes, int):
        classes = torch.as_tensor(classes)
    per_image = isinstance(classes, torch.Tensor) and classes.dim() > 0
    if per_image and classes.shape != (len(images),):
        return explain(images, classes)  # one batch: the class check names the mismatch
    return torch.cat(
        [
            explain(images[i : i + batch_size], classes[i : i + batch_size] if per_image else classes)
            for i in range(0, len(images), batch_size)
        ]
    )


def _check_maps_masks(maps: torch.Tensor, masks: torch.Tensor, ignore_index: int):
    """``(maps, inside, valid)``: float maps (N, H, W) and boolean masks of the same shape."""
    if maps.dim() != 3:
        raise ValueError(
            f"maps must be (N, H, W), got {tuple(maps.shape)}. For one map, pass maps.unsqueeze(0)."
        )
    if masks.shape != maps.shape:
        fix = "masks.squeeze(1)" if masks.dim() == 4 and masks.shape[1] == 1 else "masks of the images' size"
        raise ValueError(
            f"masks must have the maps' shape {tuple(maps.shape)}, got {tuple(masks.shape)}. Pass {fix}."
        )
    if (maps < 0).any():
        raise ValueError("maps must be non-negative (a mass): pass gradcam/saliency maps, or relu/abs them.")
    if masks.dtype == torch.bool:
        return maps.float(), masks, torch.ones_like(masks)
    valid = masks != ignore_index
    odd = torch.unique(masks[valid & (masks != 0) & (masks != 1)])
    if odd.numel():
        raise ValueError(
            f"masks must hold 1 (inside), 0 (outside) or ignore_index={ignore_index}, but also hold "
            f"{odd.tolist()}. For the Pets trimaps, pass cu.data.pet_mask(y) (1 pet, 0 background, 255 "
            "border)."
        )
    return maps.float(), (masks == 1), valid


def mass_inside(maps: torch.Tensor, masks: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Share of each map's mass that falls inside its mask: (N,) in [0, 1].

    ``maps`` (N, H, W) non-negative; ``masks`` (N, H, W), 1 inside, 0 outside, pixels equal to
    ``ignore_index`` left out of both sums (or a boolean mask). NaN for a map with no mass on the valid
    pixels (average with ``torch.nanmean``). Compare it with the chance level, the mask's share of the
    valid pixels: ``mass_inside(torch.ones_like(maps), masks)``.
    """
    maps, inside, valid = _check_maps_masks(maps, masks, ignore_index)
    maps = maps * valid
    return (maps * inside).sum(dim=(1, 2)) / maps.sum(dim=(1, 2))


def pointing_hits(maps: torch.Tensor, masks: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """The pointing game: whether each map's peak lies inside its mask, (N,) bool.

    The peak is the highest pixel that is not ``ignore_index``; when several pixels share it (a
    bilinear upsampling makes small plateaus), a hit means one of them is inside. An all-zero map is
    a miss. The chance level is the mask's share of the image (a map's peak at a random pixel), not
    ``pointing_hits`` of a flat map: every pixel of a flat map ties for the peak, so it hits any
    non-empty mask.
    """
    maps, inside, valid = _check_maps_masks(maps, masks, ignore_index)
    maps = maps.masked_fill(~valid, float("-inf"))
    peak = maps.amax(dim=(1, 2), keepdim=True)
    return ((maps == peak) & inside).any(dim=(1, 2)) & (peak.flatten() > 0)
