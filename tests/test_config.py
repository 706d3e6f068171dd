import pytest
import torch

from course_utils import config


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert config.get_profile().name == "smoke"
    assert config.get_profile("FULL").name == "full"  # the argument wins, case-insensitive


def test_default_profile_depends_on_hardware(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(config, "accelerator_available", lambda: False)
    assert config.get_profile().name == "cpu"
    monkeypatch.setattr(config, "accelerator_available", lambda: True)
    assert config.get_profile().name == "full"


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="smoke.*COURSE_PROFILE"):
        config.get_profile("laptop")


def test_profiles_only_shrink_work_in_order():
    # Every work field, a new one included: epochs and subset sizes (None = all) grow from smoke to full.
    smoke, cpu, full = (config.PROFILES[k].as_dict() for k in ("smoke", "cpu", "full"))

    def size(value):
        return float("inf") if value is None else value

    for field in smoke.keys() - {"name"}:
        assert size(smoke[field]) <= size(cpu[field]) <= size(full[field]), field
    assert smoke["max_train"] is not None and cpu["max_train"] is None


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "env"))
    assert config.get_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert config.get_data_dir() == tmp_path / "env"
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert config.get_data_dir() == tmp_path / "cache" / "cnn-course"


def test_device_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    assert config.get_device("meta") == torch.device("meta")


def test_seed_everything_repeats_draws():
    gen = config.seed_everything(7)
    a = (torch.rand(3), torch.rand(2, generator=gen))
    gen = config.seed_everything(7)
    b = (torch.rand(3), torch.rand(2, generator=gen))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_fast_bf16_follows_the_hardware(monkeypatch):
    for avx512_bf16, amx, expected in ((False, False, False), (True, False, True), (False, True, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        assert config.fast_bf16("cpu") is expected
    assert config.fast_bf16("meta") is False
