import numpy as np
import pytest
import torch

import course_utils as cu
from course_utils import data as data_module
from course_utils import download
from tests.conftest import REAL_DATA, has_real


def test_split_sizes_and_disjointness(tiny_data_dir):
    d = cu.load_mnist(val_size=50)
    assert (len(d.train), len(d.val), len(d.test)) == (250, 50, 100)
    assert d.train.x.dtype == torch.uint8 and d.train.x.shape[1:] == (1, 28, 28)
    assert d.train.y.dtype == torch.int64
    # the val split is carved from the training set: no image in both
    train_rows = {bytes(r) for r in d.train.x.reshape(250, -1).numpy()}
    assert not any(bytes(r) in train_rows for r in d.val.x.reshape(50, -1).numpy())


def test_split_is_fixed_by_seed(tiny_data_dir):
    a, b, c = (
        cu.load_cifar10(val_size=30),
        cu.load_cifar10(val_size=30),
        cu.load_cifar10(val_size=30, seed=1),
    )
    assert torch.equal(a.val.x, b.val.x)
    assert not torch.equal(a.val.x, c.val.x)
    assert a.train.x.shape[1:] == (3, 32, 32)


def test_channel_stats_are_exact():
    x = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    mean, std = data_module.channel_stats(x)
    ref = x.double().div(255)
    assert np.allclose(mean, ref.mean(dim=(0, 2, 3)), atol=1e-6)
    assert np.allclose(std, ref.permute(1, 0, 2, 3).reshape(3, -1).std(dim=1, unbiased=False), atol=1e-6)


def test_stratified_subset_counts_and_reproducibility():
    labels = torch.arange(1000) % 10
    idx = cu.stratified_subset(labels, 16, seed=3)
    assert len(idx) == 160 and len(set(idx.tolist())) == 160
    assert torch.bincount(labels[idx], minlength=10).tolist() == [16] * 10
    assert torch.equal(idx, cu.stratified_subset(labels, 16, seed=3))
    assert not torch.equal(idx, cu.stratified_subset(labels, 16, seed=4))
    with pytest.raises(ValueError, match="has only 100 samples"):
        cu.stratified_subset(labels, 101)


def test_pets_masks_and_binary_target(tiny_data_dir):
    d = cu.load_pets(val_size=5)
    assert (len(d.train), len(d.val), len(d.test)) == (15, 5, 10)
    assert d.train.y.shape == (15, 128, 128) and set(d.train.y.unique().tolist()) <= {0, 1, 2}
    assert d.class_names == ["pet", "background", "border"]
    assert d.val.info["names"].shape == (5,)
    y = torch.tensor([[0, 1, 2]])
    assert cu.data.pet_mask(y).tolist() == [[1, 0, 255]]
    assert cu.data.pet_mask(y, border="pet").tolist() == [[1, 0, 1]]
    assert cu.data.pet_mask(y, border="background").tolist() == [[1, 0, 0]]


def test_pet_breeds_labels_each_image_with_its_breed(tiny_data_dir):
    breeds = cu.pet_breeds(cu.load_pets(val_size=5))
    assert breeds.class_names == ["Abyssinian", "Bengal", "american_bulldog"] and breeds.num_classes == 3
    assert breeds.train.y.dtype == torch.int64 and breeds.train.y.shape == (15,)
    names = [breeds.class_names[i] for i in breeds.test.y.tolist()]
    assert names == breeds.test.info["breed"].tolist()


def test_truncated_archive_is_a_clear_error(tiny_data_dir):
    path = tiny_data_dir / "mnist.npz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(cu.data.DatasetError, match="truncated or corrupt"):
        cu.load_mnist()


def test_wrong_shape_and_labels_are_clear_errors(tiny_data_dir):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 255, (10, 32, 32), dtype=np.uint8),
        "y_train": np.zeros(10, np.uint8),
        "x_test": np.zeros((5, 28, 28), np.uint8),
        "y_test": np.zeros(5, np.uint8),
    }
    np.savez(tiny_data_dir / "mnist.npz", **arrays)
    with pytest.raises(cu.data.DatasetError, match=r"shape \(N, 28, 28\)"):
        cu.load_mnist(val_size=2)
    arrays["x_train"] = np.zeros((10, 28, 28), np.uint8)
    arrays["y_train"] = np.full(10, 12, np.uint8)
    np.savez(tiny_data_dir / "mnist.npz", **arrays)
    with pytest.raises(cu.data.DatasetError, match=r"expected \[0, 9\]"):
        cu.load_mnist(val_size=2)
    del arrays["y_test"]
    np.savez(tiny_data_dir / "mnist.npz", **arrays)
    with pytest.raises(cu.data.DatasetError, match="lacks the arrays"):
        cu.load_mnist(val_size=2)


def test_pets_mask_values_are_checked(tiny_data_dir):
    path = tiny_data_dir / "pets" / "pets_seg.npz"
    arrays = dict(np.load(path))
    arrays["m_train"] = (arrays["m_train"] * 60).astype(np.uint8)  # what bilinear resizing + /255 breaks
    np.savez(path, **arrays)
    with pytest.raises(cu.data.DatasetError, match="NEAREST"):
        cu.load_pets(val_size=5)


def test_offline_error_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))

    class NoNetwork:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", NoNetwork)
    with pytest.raises(cu.data.DatasetError) as err:
        cu.load_mnist()
    message = str(err.value)
    assert "COURSE_DATA_DIR" in message and "mnist.npz" in message and "cifar10.npz" in message
    assert not (tmp_path / "mnist.npz").exists()


def test_download_converts_into_the_archive_format(tmp_path, monkeypatch):
    """The first-use path: torchvision's dataset -> the same archive the course reads."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))

    class FakeMNIST:
        def __init__(self, root, train, download):
            n = 60 if train else 20
            self.data = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
            self.targets = torch.arange(n) % 10
            self.classes = [f"{i} - digit" for i in range(10)]

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    d = cu.load_mnist(val_size=10)
    assert (len(d.train), len(d.val), len(d.test)) == (50, 10, 20)
    assert (tmp_path / "mnist.npz").exists()


def test_pets_conversion_resizes_masks_with_nearest(tmp_path):
    from PIL import Image

    class FakePets:  # two of the course's breeds and one it leaves out
        _images = ["images/Bengal_1.jpg", "images/american_bulldog_2.jpg", "images/beagle_3.jpg"]
        _labels = [5, 1, 11]

        def __len__(self):
            return 3

        def __getitem__(self, i):
            trimap = np.ones((300, 200), np.uint8)
            trimap[:, 100:] = 2
            trimap[:, 98:102] = 3
            return Image.new("RGB", (200, 300), (10, 20, 30)), Image.fromarray(trimap)

    arrays = download.pets_arrays({"train": FakePets(), "test": FakePets()})
    assert arrays["x_train"].shape == (2, 128, 128, 3)
    assert set(np.unique(arrays["m_train"])) == {1, 2, 3}
    assert arrays["breed_train"].tolist() == ["Bengal", "american_bulldog"]  # the beagle is left out
    assert arrays["species_train"].tolist() == [1, 2] and arrays["class_id_train"].tolist() == [6, 2]
    assert arrays["orig_hw_train"].tolist() == [[300, 200], [300, 200]]
    (tmp_path / "pets").mkdir()
    np.savez(tmp_path / "pets" / "pets_seg.npz", **arrays)
    d = cu.load_pets(tmp_path, val_size=1)
    assert len(d.test) == 2


@pytest.mark.real_data
@pytest.mark.skipif(not has_real("mnist.npz"), reason="real MNIST archive not in COURSE_DATA_DIR")
def test_real_mnist_counts():
    d = cu.load_mnist(REAL_DATA)
    assert len(d.train) + len(d.val) == 60_000 and len(d.test) == 10_000
    train_counts = torch.bincount(torch.cat([d.train.y, d.val.y]), minlength=10).tolist()
    assert train_counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(d.test.y).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert abs(d.mean[0] - 0.1307) < 1e-3 and abs(d.std[0] - 0.3081) < 1e-3


@pytest.mark.real_data
@pytest.mark.skipif(not has_real("cifar10.npz"), reason="real CIFAR-10 archive not in COURSE_DATA_DIR")
def test_real_cifar10_counts():
    d = cu.load_cifar10(REAL_DATA)
    assert len(d.train) + len(d.val) == 50_000 and len(d.test) == 10_000
    assert torch.bincount(torch.cat([d.train.y, d.val.y])).tolist() == [5000] * 10
    assert torch.bincount(d.test.y).tolist() == [1000] * 10
    assert d.image_shape == (3, 32, 32)


@pytest.mark.real_data
@pytest.mark.skipif(not has_real("pets/pets_seg.npz"), reason="real Pets archive not in COURSE_DATA_DIR")
def test_real_pets_counts():
    d = cu.load_pets(REAL_DATA)
    assert len(d.train) + len(d.val) == 300 and len(d.test) == 298
    assert d.image_shape == (3, 128, 128) and d.test.y.shape[1:] == (128, 128)
