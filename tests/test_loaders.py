import pytest
import torch

import course_utils as cu
from course_utils.data import Split


def make_split(n=50, c=3, size=8, masks=False):
    x = torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8)
    y = torch.randint(0, 3, (n, size, size), dtype=torch.uint8) if masks else torch.arange(n) % 10
    return Split(x, y)


def test_batches_shapes_dtypes_and_len():
    loader = cu.TensorLoader(make_split(50), 16, mean=(0.5,) * 3, std=(0.25,) * 3)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [len(x) for x, _ in batches] == [16, 16, 16, 2]
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (16, 3, 8, 8) and y.dtype == torch.int64
    drop = cu.TensorLoader(make_split(50), 16, mean=(0.5,) * 3, std=(0.25,) * 3, drop_last=True)
    assert len(drop) == len(list(drop)) == 3


def test_normalisation_matches_torchvision():
    from torchvision import transforms

    split = make_split(4)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    x, _ = next(iter(cu.TensorLoader(split, 4, mean, std)))
    ref = transforms.Normalize(mean, std)(split.x.float() / 255)
    assert torch.allclose(x, ref, atol=1e-5)


def test_unshuffled_order_and_shuffled_permutation():
    split = make_split(30)
    plain = torch.cat([y for _, y in cu.TensorLoader(split, 7, (0,) * 3, (1,) * 3)])
    assert torch.equal(plain, split.y)
    shuffled = torch.cat([y for _, y in cu.TensorLoader(split, 7, (0,) * 3, (1,) * 3, shuffle=True)])
    assert not torch.equal(shuffled, split.y) and sorted(shuffled.tolist()) == sorted(split.y.tolist())


def test_two_seeded_iterations_are_identical():
    split = make_split(40)

    def run(seed):
        loader = cu.TensorLoader(
            split, 8, (0.5,) * 3, (0.5,) * 3, shuffle=True, augment=cu.Augment(), seed=seed
        )
        return [torch.cat([x.flatten() for x, _ in loader]) for _ in range(2)]  # two epochs

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], a[1])  # a new order each epoch
    assert not torch.equal(a[0], c[0])


def test_augmentation_keeps_shapes_labels_and_content():
    split = make_split(64, size=16)
    loader = cu.TensorLoader(split, 64, (0,) * 3, (1 / 255,) * 3, augment=cu.Augment(4, True))
    x, y = next(iter(loader))  # mean 0, std 1/255: x is the raw pixel value
    assert x.shape == (64, 3, 16, 16) and torch.equal(y, split.y)
    changed = (x != split.x.float()).flatten(1).any(1)
    assert changed.float().mean() > 0.5  # most images were shifted or flipped
    # every image is a shifted / flipped copy: its pixel values are a subset of the original's
    for i in range(8):
        assert set(x[i].unique().tolist()) <= set(split.x[i].float().unique().tolist()) | {0.0}


def test_flip_only_is_an_exact_mirror():
    split = make_split(32)
    x, _ = next(
        iter(
            cu.TensorLoader(
                split, 32, (0,) * 3, (1 / 255,) * 3, augment=cu.Augment(crop_padding=0, flip=True)
            )
        )
    )
    for i in range(32):
        img = split.x[i].float()
        assert torch.equal(x[i], img) or torch.equal(x[i], img.flip(-1))


def test_masks_follow_their_images():
    x = torch.arange(16, dtype=torch.uint8).repeat(16, 1)  # column index as the pixel value
    split = Split(x.expand(20, 1, 16, 16).clone(), x.expand(20, 16, 16).clone())
    loader = cu.TensorLoader(split, 20, (0,), (1 / 255,), augment=cu.Augment(4, True, mask_fill=255))
    images, masks = next(iter(loader))
    assert masks.shape == (20, 16, 16) and masks.dtype == torch.uint8
    inside = masks != 255  # padded mask pixels are ignored, image pixels there are 0
    assert torch.equal(images[:, 0][inside], masks[inside].float())
    assert (images[:, 0][~inside] == 0).all()


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="uint8 images"):
        cu.TensorLoader(Split(torch.zeros(4, 3, 8, 8), torch.zeros(4)), 2, (0,) * 3, (1,) * 3)
    with pytest.raises(ValueError, match="one value per channel"):
        cu.TensorLoader(make_split(4), 2, (0.5,), (0.5,))


def test_classic_loader_matches_tensor_loader():
    split = make_split(10)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    classic = next(iter(cu.loaders.classic_loader(split, mean, std, batch_size=10)))
    fast = next(iter(cu.TensorLoader(split, 10, mean, std)))
    assert torch.allclose(classic[0], fast[0], atol=1e-5) and torch.equal(classic[1], fast[1])


def test_make_loaders_caps_sizes(tiny_data_dir):
    d = cu.load_mnist(val_size=50)
    loaders = cu.loaders.make_loaders(d, 32, eval_batch_size=25, max_train=100, max_eval=40)
    assert len(loaders["train"].dataset) == 100 and len(loaders["test"].dataset) == 40
    assert len(loaders["val"]) == 2


def test_cutout_zeroes_one_square_per_image():
    split = Split(torch.full((16, 3, 32, 32), 200, dtype=torch.uint8), torch.zeros(16))
    aug = cu.Augment(crop_padding=0, flip=False, cutout=8)
    x, _ = next(iter(cu.TensorLoader(split, 16, (0.5,) * 3, (0.5,) * 3, augment=aug)))
    zeroed = (x == 0).all(dim=1).flatten(1).sum(1)  # pixels zeroed in all channels, per image
    assert (zeroed > 0).all() and (zeroed <= 64).all()  # a square, clipped at the border


def test_rotation_keeps_shapes_and_mask_values():
    split = make_split(8, c=1, size=16, masks=True)
    aug = cu.Augment(crop_padding=0, flip=False, rotate=15)
    x, y = next(iter(cu.TensorLoader(split, 8, (0.5,), (0.5,), augment=aug)))
    assert x.shape == (8, 1, 16, 16) and y.shape == (8, 16, 16) and y.dtype == torch.uint8
    assert set(y.unique().tolist()) <= {0, 1, 2, 255}
    assert not torch.equal(y, split.y)  # rotated


@pytest.mark.parametrize("fill, corner", [("mean", 0.0), ("black", -0.5 / 0.25)])
def test_rotation_fills_the_uncovered_corners_as_asked(fill, corner):
    # white images: after a 45-degree turn the corners are uncovered; "black" is pixel 0, normalised
    split = Split(torch.full((4, 1, 32, 32), 255, dtype=torch.uint8), torch.zeros(4))
    aug = cu.Augment(crop_padding=0, flip=False, rotate=45, fill=fill)
    loader = cu.TensorLoader(split, 4, (0.5,), (0.25,), augment=aug, seed=1)
    x, _ = next(iter(loader))
    assert torch.allclose(x[:, 0, 0, 0], torch.full((4,), corner), atol=1e-5)
    assert torch.allclose(x[:, 0, 16, 16], torch.full((4,), 2.0), atol=1e-5)  # the centre stays white


def test_an_unknown_fill_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="fill must be 'mean' or 'black'"):
        cu.Augment(fill="white")


def test_zoom_scales_images_and_masks_together():
    x = torch.zeros(4, 1, 32, 32, dtype=torch.uint8)
    x[:, :, 12:20, 12:20] = 255  # a bright square in the middle; its mask is class 1
    split = Split(x, (x[:, 0] > 0).to(torch.uint8))
    aug = cu.Augment(crop_padding=0, flip=False, zoom=0.5)
    images, masks = next(iter(cu.TensorLoader(split, 4, (0,), (1 / 255,), augment=aug, seed=3)))
    areas = (masks == 1).flatten(1).sum(1)
    assert not (areas == 64).all()  # at least one square grew or shrank
    assert torch.equal(images[:, 0] > 127, masks == 1)  # image and mask moved together


def test_colour_jitter_changes_contrast_and_brightness_per_image():
    split = make_split(16, c=3, size=16)
    plain = next(iter(cu.TensorLoader(split, 16, (0.5,) * 3, (0.25,) * 3)))[0]
    aug = cu.Augment(crop_padding=0, flip=False, color=0.3)
    jittered, labels = next(iter(cu.TensorLoader(split, 16, (0.5,) * 3, (0.25,) * 3, augment=aug)))
    assert torch.equal(labels, split.y[:16])
    # each image is an affine function of itself: (x - mean) * contrast + mean + shift
    centred_plain = plain - plain.mean(dim=(1, 2, 3), keepdim=True)
    centred = jittered - jittered.mean(dim=(1, 2, 3), keepdim=True)
    contrast = centred.flatten(1).norm(dim=1) / centred_plain.flatten(1).norm(dim=1)
    assert ((contrast > 0.7 - 1e-4) & (contrast < 1.3 + 1e-4)).all() and contrast.std() > 0.01
    assert torch.allclose(centred, centred_plain * contrast[:, None, None, None], atol=1e-4)
    shift = jittered.mean(dim=(1, 2, 3)) - plain.mean(dim=(1, 2, 3))
    assert (shift.abs() <= 0.3 + 1e-4).all() and shift.std() > 0.01
