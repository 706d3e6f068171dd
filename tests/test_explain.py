"""Grad-CAM, saliency and the mask checks of course_utils.explain, on tiny models whose answer is known."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_utils as cu
from course_utils.explain import gradcam, mass_inside, pointing_hits, saliency

S = 16  # image side of the toy problem; quadrants are 8x8


class GapNet(nn.Module):
    """features (convs + ReLU, full resolution) -> global average pooling -> linear.

    Returns log-probabilities like the course's models, or the logits with ``logits=True``.
    """

    def __init__(self, features: nn.Module, fc: nn.Linear, logits: bool = False):
        super().__init__()
        self.features, self.pool, self.fc, self.logits = features, nn.AdaptiveAvgPool2d(1), fc, logits

    def forward(self, x):
        z = self.fc(torch.flatten(self.pool(self.features(x)), 1))
        return z if self.logits else F.log_softmax(z, dim=1)


def detector_net() -> GapNet:
    """Hand-set weights. Channel 0 detects bright 3x3 areas, channel 1 dark ones (a 3x3 mean past
    +-0.5); class 0 "dark" reads channel 1, class 1 "bright" channel 0, class 2 "plain" neither."""
    conv = nn.Conv2d(1, 2, 3, padding=1)
    fc = nn.Linear(2, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.stack([torch.full((1, 3, 3), 1 / 9), torch.full((1, 3, 3), -1 / 9)]))
        conv.bias.fill_(-0.5)
        fc.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, -1.0]]))  # rows average to 0
        fc.bias.copy_(torch.tensor([0.0, 0.0, 0.5]))
    return GapNet(nn.Sequential(conv, nn.ReLU(inplace=True)), fc)


def quadrant_images(n=4):
    """Faint noise, a bright 4x4 square in the top-left quadrant and a dark one in the bottom-right,
    each 2 pixels from the quadrant's edges (so that the 3x3 receptive fields stay inside)."""
    x = 0.1 * torch.randn(n, 1, S, S, generator=torch.Generator().manual_seed(0))
    x[:, :, 2:6, 2:6] += 2.0
    x[:, :, 10:14, 10:14] -= 2.0
    top_left, bottom_right = torch.zeros(n, S, S, dtype=torch.uint8), torch.zeros(n, S, S, dtype=torch.uint8)
    top_left[:, :8, :8] = 1
    bottom_right[:, 8:, 8:] = 1
    return x, top_left, bottom_right


@pytest.mark.parametrize("explain", [lambda m, x, c: gradcam(m, "features", x, c), saliency])
def test_maps_sit_where_the_class_evidence_is(explain):
    model = detector_net()
    x, top_left, bottom_right = quadrant_images()
    for cls, quadrant in ((1, top_left), (0, bottom_right)):
        maps = explain(model, x, cls)
        assert maps.shape == (4, S, S)
        assert torch.allclose(maps.amax(dim=(1, 2)), torch.ones(4))
        assert torch.equal(mass_inside(maps, quadrant), torch.ones(4))  # exact: nothing outside
        assert pointing_hits(maps, quadrant).all()
        assert (mass_inside(torch.ones_like(maps), quadrant) == 0.25).all()  # chance level


def test_a_class_with_no_positive_evidence_gives_zero_maps_and_a_warning():
    x, _, _ = quadrant_images()
    with pytest.warns(RuntimeWarning, match=r"zero everywhere for images \[0, 1, 2, 3\]"):
        maps = gradcam(detector_net(), "features", x, 2)  # "plain": every channel lowers its score
    assert torch.equal(maps, torch.zeros(4, S, S))
    assert torch.isnan(mass_inside(maps, torch.ones(4, S, S, dtype=torch.uint8))).all()
    assert not pointing_hits(maps, torch.ones(4, S, S, dtype=torch.uint8)).any()


def random_gap_net(logits: bool) -> GapNet:
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, padding=1), nn.ReLU()
    )
    return GapNet(features, nn.Linear(5, 4), logits)


def cam(model: GapNet, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Class activation map (Zhou et al. 2016) for per-image class weights (N, K), scaled to max 1."""
    with torch.no_grad():
        maps = F.relu(torch.einsum("nk,nkhw->nhw", weights, model.features(x)))
    return maps / maps.amax(dim=(1, 2), keepdim=True)


@pytest.mark.filterwarnings("ignore:Grad-CAM map is zero")
def test_gradcam_of_a_gap_network_is_its_cam_for_each_score():
    # After global average pooling and a linear layer, alpha_k = w_ck / (h w): Grad-CAM is CAM.
    x, classes = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 2, 3])
    with_logits, with_log_probs = random_gap_net(logits=True), random_gap_net(logits=False)
    weight = with_logits.fc.weight.detach()  # (4 classes, 5 channels)

    paper = cam(with_logits, x, weight[classes])  # the raw logit: what "output" gives for this model
    assert torch.allclose(gradcam(with_logits, "features", x, classes, score="output"), paper, atol=1e-6)

    centred = cam(with_logits, x, (weight - weight.mean(0))[classes])
    for model in (with_logits, with_log_probs):  # the same whether the model ends in log_softmax or not
        assert torch.allclose(gradcam(model, "features", x, classes), centred, atol=1e-6)

    p = with_logits(x).softmax(1).detach()  # d log p_c / dz = onehot(c) - p
    contrast = cam(with_logits, x, (F.one_hot(classes, 4) - p) @ weight)
    for model in (with_logits, with_log_probs):
        assert torch.allclose(gradcam(model, "features", x, classes, score="log_prob"), contrast, atol=1e-5)


def test_each_image_is_explained_on_its_own():
    model, x = random_gap_net(logits=False), torch.randn(3, 3, 8, 8)
    batch = gradcam(model, "features.2", x, [1, 0, 3])
    singles = torch.cat([gradcam(model, "features.2", x[i : i + 1], [c]) for i, c in enumerate([1, 0, 3])])
    assert torch.allclose(batch, singles, atol=1e-6)


@pytest.mark.parametrize("explain", [lambda m, x, c, **k: gradcam(m, "features.2", x, c, **k), saliency])
def test_batches_change_memory_not_maps(explain):
    model, x = random_gap_net(logits=False), torch.randn(5, 3, 8, 8)
    for classes in ([1, 0, 3, 2, 1], 2, None):
        whole = explain(model, x, classes, batch_size=5)
        assert torch.allclose(explain(model, x, classes, batch_size=2), whole, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size must be a positive whole number.*batch_size=16"):
        explain(model, x, None, batch_size=0)
    with pytest.raises(ValueError, match=r"5 images but classes has shape \(4,\)"):
        explain(model, x, [0, 1, 2, 3], batch_size=2)


def test_model_is_left_as_it_was():
    torch.manual_seed(0)
    model = cu.ResNet(layers=(1, 1, 1))
    model.train()
    model.layer2.eval()  # mixed modes must come back module by module
    modes = {name: m.training for name, m in model.named_modules()}
    model.fc.weight.grad = torch.full_like(model.fc.weight, 3.0)  # a caller's accumulated gradient
    x = torch.randn(2, 3, 32, 32)

    gradcam(model, "layer3", x)
    saliency(model, x)
    with pytest.raises(ValueError):
        gradcam(model, "layer3", x, [0, 10])  # fails after the forward pass, hook in place

    assert {name: m.training for name, m in model.named_modules()} == modes
    assert torch.equal(model.fc.weight.grad, torch.full_like(model.fc.weight, 3.0))
    assert all(p.grad is None for name, p in model.named_parameters() if name != "fc.weight")
    for m in model.modules():
        assert not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks


def test_frozen_model_and_inference_mode_batches():
    model = cu.ResNet(layers=(1, 1, 1)).requires_grad_(False)
    with torch.inference_mode():
        x = torch.randn(2, 3, 32, 32)
    assert gradcam(model, model.layer3, x).shape == (2, 32, 32)
    with torch.no_grad():
        assert saliency(model, x, 4).shape == (2, 32, 32)
    with torch.inference_mode():
        assert gradcam(model, "layer3", x).shape == (2, 32, 32)
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.filterwarnings("ignore:Grad-CAM map is zero")
def test_in_place_relu_after_the_layer_does_not_corrupt_the_map():
    # "layer1.0.bn1" is followed by ReLU(inplace=True), which overwrites its output.
    torch.manual_seed(0)
    model = cu.ResNet(layers=(1, 1, 1))
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.normal_()
    out_of_place = copy.deepcopy(model)
    for relu in (m for m in out_of_place.modules() if isinstance(m, nn.ReLU)):
        relu.inplace = False
    x = torch.randn(2, 3, 32, 32)
    expected = gradcam(out_of_place, "layer1.0.bn1", x, [1, 2])
    assert torch.allclose(gradcam(model, "layer1.0.bn1", x, [1, 2]), expected, atol=1e-6)


@pytest.mark.parametrize(
    "build,layer,shape",
    [
        (lambda: cu.LeNet5(), "conv2", (1, 28, 28)),
        (lambda: cu.MiniVGGNet(in_channels=3, input_size=32), "conv22", (3, 32, 32)),
        (lambda: cu.models.ResNet9(), "layer3", (3, 32, 32)),
    ],
)
def test_course_models(build, layer, shape):
    torch.manual_seed(0)
    model = build()
    maps = gradcam(model, layer, torch.randn(2, *shape))  # the predicted classes
    assert maps.shape == (2, *shape[1:]) and maps.min() >= 0
    assert torch.allclose(maps.amax((1, 2)), torch.ones(2))  # (for this seed: no all-zero map)


def test_errors_name_the_argument_and_the_fix():
    model, x = cu.ResNet(layers=(1, 1, 1)), torch.randn(2, 3, 32, 32)
    with pytest.raises(
        ValueError, match=r"'layer4' is not a module.*Close names: \['layer3', 'layer2', 'layer1'"
    ):
        gradcam(model, "layer4", x)
    with pytest.raises(ValueError, match=r"Close names: \['layer3.0.conv2'"):
        gradcam(model, "layer3.0.conv3", x)
    with pytest.raises(ValueError, match="not part of the model"):
        gradcam(model, nn.Conv2d(3, 3, 1), x)
    with pytest.raises(ValueError, match=r"classes \[10\] are out of range: the model has 10 classes"):
        gradcam(model, "layer3", x, [0, 10])
    with pytest.raises(ValueError, match=r"2 images but classes has shape \(3,\)"):
        saliency(model, x, [0, 1, 2])
    with pytest.raises(ValueError, match="integer class indices"):
        saliency(model, x, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"batch \(N, C, H, W\), got \(3, 32, 32\).*unsqueeze\(0\)"):
        gradcam(model, "layer3", x[0])
    with pytest.raises(ValueError, match="images have 1 channels .* expects 3"):
        saliency(model, x[:, :1])
    with pytest.raises(ValueError, match="float tensors"):
        saliency(model, x.to(torch.uint8))
    with pytest.raises(ValueError, match=r"'fc' outputs \(2, 10\), not feature maps"):
        gradcam(model, "fc", x)
    with pytest.raises(ValueError, match="ran 2 times"):
        gradcam(model, "layer1.0.relu", x)  # one ReLU module, called twice in the block
    with pytest.raises(ValueError, match="score must be one of"):
        gradcam(model, "layer3", x, score="probability")
    with pytest.raises(ValueError, match="must be a classifier"):
        saliency(cu.models.UNet(3, 1, base_channels=4), torch.randn(1, 3, 16, 16))


def test_mass_inside_and_pointing_on_small_maps():
    maps = torch.tensor([[[0.0, 1.0], [3.0, 0.0]], [[4.0, 4.0], [0.0, 1.0]]])
    masks = torch.tensor([[[0, 1], [0, 255]], [[1, 0], [255, 0]]], dtype=torch.uint8)
    # image 0: 1 of 4 valid mass inside; image 1: 4 of 9, and the tied peak (4, 4) touches the mask
    assert torch.allclose(mass_inside(maps, masks), torch.tensor([1 / 4, 4 / 9]))
    assert pointing_hits(maps, masks).tolist() == [False, True]
    assert torch.allclose(mass_inside(maps, masks == 1), torch.tensor([1 / 4, 4 / 9]))
    ignored_peak = torch.tensor([[[0.0, 1.0], [0.0, 5.0]]])  # the 5 sits on an ignored pixel
    assert pointing_hits(ignored_peak, masks[:1]).tolist() == [True]


def test_mask_errors():
    maps = torch.rand(2, 4, 4)
    with pytest.raises(ValueError, match=r"cu.data.pet_mask\(y\)"):
        mass_inside(maps, torch.randint(0, 3, (2, 4, 4)))  # a trimap, not a binary mask
    with pytest.raises(ValueError, match=r"masks.squeeze\(1\)"):
        pointing_hits(maps, torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match="non-negative"):
        mass_inside(maps - 0.5, torch.ones(2, 4, 4))
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        mass_inside(maps[0], torch.ones(4, 4))


def scaled(maps: torch.Tensor) -> torch.Tensor:
    return maps / maps.amax(dim=(1, 2), keepdim=True)


@pytest.mark.parametrize("layer", ["layer3", "layer2", "layer3.1.conv2", "layer1.0.bn1"])
def test_agrees_with_captum(layer):
    # A dev-only cross-check, skipped without Captum. "layer1.0.bn1": an in-place ReLU follows it.
    attr = pytest.importorskip(
        "captum.attr", reason='the cross-check needs captum: pip install -e ".[dev,docs]"'
    )
    torch.manual_seed(0)
    model = cu.ResNet()
    x, classes = torch.randn(4, 3, 32, 32), torch.tensor([0, 3, 5, 9])
    ours = gradcam(model, layer, x, classes, score="output")  # Captum explains the output as it is
    model.eval()
    module = dict(model.named_modules())[layer]
    ref = attr.LayerGradCam(model, module).attribute(x, target=classes, relu_attributions=True)
    ref = attr.LayerAttribution.interpolate(ref, (32, 32), "bilinear")[:, 0]
    assert (ours - scaled(ref)).abs().max() < 1e-5
    ref = attr.Saliency(model).attribute(x.clone().requires_grad_(True), target=classes, abs=True)
    assert (saliency(model, x, classes, score="output") - scaled(ref.amax(dim=1))).abs().max() < 1e-5


def test_compare_images_paired_uses_the_spread_of_the_per_image_differences():
    a = torch.tensor([0.2, 0.4, float("nan"), 0.6, 0.5])
    b = torch.tensor([0.3, 0.6, 0.9, 0.7, 0.5])
    c = cu.explain.compare_images(a, b, names=("prior", "Grad-CAM"))
    d = torch.tensor([0.1, 0.2, 0.1, 0.0], dtype=torch.float64)  # the NaN image is left out
    assert (len(c.a), len(c.b)) == (4, 4) and c.paired and c.kind == "images"
    assert c.diff == pytest.approx(100 * d.mean().item())
    assert c.diff_sd == pytest.approx(100 * d.std().item() / 2)
    assert c.real and c.verdict == "Grad-CAM is better"  # 10 points, spread about 4.1
    assert str(c).startswith("Grad-CAM - prior = +10 ± 4 points (paired over 4 images; one image's spread")
    hits = cu.explain.compare_images(
        torch.tensor([True, True]), torch.tensor([True, False]), names=("x", "y")
    )
    assert hits.diff == pytest.approx(-50.0) and not hits.real  # bools count 1 and 0


def test_compare_images_unpaired_pools_like_compare():
    right, wrong = [0.7, 0.8, 0.9, 0.6], [0.3, 0.5, 0.4]
    c = cu.explain.compare_images(
        torch.tensor(right), torch.tensor(wrong), names=("right", "wrong"), paired=False
    )
    ref = cu.compare(right, wrong, names=("right", "wrong"), scale=100)  # the same pooled rule, over runs
    assert (len(c.a), len(c.b)) == (4, 3)
    for field in ("mean_a", "mean_b", "diff", "diff_sd", "verdict"):
        assert getattr(c, field) == pytest.approx(getattr(ref, field)), field
    assert c.run_sd == pytest.approx(ref.run_sd)  # one image's spread
    assert "(right: 4 images, wrong: 3;" in str(c)


def test_compare_images_errors():
    with pytest.raises(ValueError, match=r"paired scores need one pair per image.*paired=False"):
        cu.explain.compare_images(torch.rand(3), torch.rand(4))
    with pytest.raises(ValueError, match=r"one score per image, a vector \(N,\)"):
        cu.explain.compare_images(torch.rand(2, 3), torch.rand(2, 3))
    with pytest.raises(ValueError, match="no image has a score"):
        cu.explain.compare_images(torch.full((2,), float("nan")), torch.rand(2))
    one = cu.explain.compare_images(torch.tensor([0.5]), torch.tensor([0.7]))
    assert one.verdict.startswith("noise unknown") and not one.real
