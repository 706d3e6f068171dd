"""Transfer learning helpers (lesson 07): resizing, a new head, a frozen backbone, two learning rates,
ImageNet weights through torchvision's API (tested offline with a stand-in state dict)."""

import sys
import urllib.error

import pytest
import torch
import torch.nn as nn

import course_utils as cu
from course_utils import transfer
from course_utils.runtime import Runtime


def test_resize_images_keeps_uint8_labels_and_refuses_masks(tiny_data_dir):
    pets = cu.load_pets(val_size=5)
    breeds = transfer.resize_images(cu.pet_breeds(pets), 48)
    assert breeds.train.x.shape[1:] == (3, 48, 48) and breeds.train.x.dtype == torch.uint8
    assert torch.equal(breeds.test.y, cu.pet_breeds(pets).test.y) and breeds.name.endswith("-48")
    with pytest.raises(ValueError, match="masks"):
        transfer.resize_images(pets, 48)
    with pytest.raises(ValueError, match="size must be a positive"):
        transfer.resize_images(breeds, 0)
    stats = breeds.with_stats((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert stats.mean == (0.5, 0.5, 0.5) and stats.train is breeds.train


def test_reset_classifier_follows_into_the_checkpoint(tmp_path):
    model, meta = cu.load_pretrained("resnet14_cifar10")
    assert meta["normalization"][0][0] == pytest.approx(0.4915, abs=1e-3)
    model.reset_classifier(3)
    assert model(torch.randn(2, 3, 48, 48)).shape == (2, 3) and model.model_args["num_classes"] == 3
    loaded, _ = cu.train.load_checkpoint(cu.train.save_checkpoint(tmp_path / "breeds.pt", model))
    assert torch.equal(loaded.fc.weight, model.fc.weight)


def test_frozen_backbone_trains_only_the_head_and_keeps_batch_norm_statistics():
    torch.manual_seed(0)
    model = cu.ResNet("basic", [1, 1, 1], num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = transfer.FrozenBackbone(model)
    frozen.train()
    assert not model.bn.training and model.fc.training
    optimizer = torch.optim.SGD(transfer.param_groups(frozen, 0.1, 0.01), lr=0.1)
    x, y = torch.randn(8, 3, 16, 16) * 3 + 1, torch.arange(8) % 3
    nn.CrossEntropyLoss()(frozen(x), y).backward()
    optimizer.step()
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed == ["fc.weight", "fc.bias"]  # running means and variances included: unchanged
    with pytest.raises(ValueError, match="no layer 'head'"):
        transfer.FrozenBackbone(model, head="head")


def test_param_groups_give_the_backbone_its_own_rate():
    model = cu.ResNet("basic", [1, 1, 1])
    head, backbone = transfer.param_groups(model, 0.1, 0.01)
    assert head["lr"] == 0.1 and backbone["lr"] == 0.01
    assert len(head["params"]) == 2 and len(head["params"]) + len(backbone["params"]) == len(
        list(model.parameters())
    )
    with pytest.raises(ValueError, match="no trainable parameter in a layer named 'classifier'"):
        transfer.param_groups(model, 0.1, 0.01, head="classifier")


@pytest.mark.parametrize("setting", transfer.SETTINGS)
def test_each_setting_trains(tiny_data_dir, setting):
    breeds = transfer.resize_images(cu.pet_breeds(cu.load_pets(val_size=5)), 32)
    runtime = Runtime(torch.device("cpu"))
    recipe = cu.RECIPES[f"breeds_{setting}"].replace(epochs=1)
    result = cu.fit(recipe, breeds, runtime, progress=False)
    model = result.model  # the plain network, the frozen one unwrapped
    assert isinstance(model, cu.ResNet) and model.fc.out_features == 3 and result.history.epochs == 1
    if setting == "frozen":  # the backbone is the packaged one, untouched
        packaged, _ = cu.load_pretrained("resnet14_cifar10")
        assert torch.equal(model.layer2[0].conv1.weight, packaged.layer2[0].conv1.weight)
        assert torch.equal(model.bn.running_mean, packaged.bn.running_mean)
    assert result.history.best_epoch == 0


def test_imagenet_weights_through_torchvision_with_a_stand_in(monkeypatch):
    from torchvision.models import ResNet18_Weights, resnet18

    stand_in = resnet18().state_dict()  # the right shapes; the real file is a download
    stand_in["fc.weight"] = torch.full_like(stand_in["fc.weight"], 0.5)
    monkeypatch.setattr(type(ResNet18_Weights.IMAGENET1K_V1), "get_state_dict", lambda self, **kw: stand_in)
    model = transfer.imagenet_resnet18(3)
    assert model.fc.out_features == 3 and torch.equal(model.conv1.weight, stand_in["conv1.weight"])


def test_imagenet_weights_offline_say_so_and_fall_back(monkeypatch, capsys):
    from torchvision.models import ResNet18_Weights

    def offline(self, **kwargs):
        for stream in (sys.stdout, sys.stderr):  # torch.hub has printed to one or the other
            stream.write('Downloading: "https://download.pytorch.org/..." to /root/.cache/torch/hub/x.pth\n')
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(type(ResNet18_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    assert transfer.imagenet_resnet18(3) is None
    printed = capsys.readouterr()
    assert "the ImageNet comparison is skipped" in printed.out
    assert "/root" not in printed.out + printed.err, "no machine path reaches the notebook's output"
