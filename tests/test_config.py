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

    for field in smoke.keys() - {"name", "max_batches"}:
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
    monkeypatch.setenv("COURSE_DEVICE", "meta")
    assert config.get_device("cpu") == torch.device("cpu")  # the argument wins
    with pytest.raises(ValueError, match="COURSE_DEVICE='meta': the course runs on cpu, cuda or mps"):
        config.get_device()


def test_seed_everything_repeats_draws():
    gen = config.seed_everything(7)
    a = (torch.rand(3), torch.rand(2, generator=gen))
    gen = config.seed_everything(7)
    b = (torch.rand(3), torch.rand(2, generator=gen))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize(
    "capability,avx512_bf16,amx,bf16,channels_last",
    [
        ("AVX2", False, False, False, False),  # the weakest common machine
        ("AVX2", True, False, False, False),  # a faster CPU held to AVX2 (ATEN_CPU_CAPABILITY=avx2)
        ("AVX512", False, False, False, True),
        ("AVX512", True, False, True, True),
        ("AVX512", False, True, True, True),
    ],
)
def test_fast_settings_follow_the_cpu_class(monkeypatch, capability, avx512_bf16, amx, bf16, channels_last):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert config.fast_bf16("cpu") is bf16 and config.fast_channels_last("cpu") is channels_last
    assert config.fast_bf16("meta") is False and config.fast_channels_last("meta") is False


def test_runtime_states_device_layout_and_precision(monkeypatch):
    import course_utils as cu
    from course_utils.runtime import Runtime

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    runtime = cu.runtime(config.get_profile("smoke", dry_run=True), "cpu")
    assert (runtime.channels_last, runtime.precision, runtime.max_batches, runtime.max_train_batch) == (
        False,
        "fp32",
        2,
        32,
    )
    caps = "dry run: 2 batches per loader, training batches of at most 32"
    assert str(runtime) == f"cpu | float32 | contiguous | {caps}"
    forced = Runtime(torch.device("cpu"), channels_last=True)
    model = forced.model(torch.nn.Conv2d(3, 4, 3))
    assert model.weight.is_contiguous(memory_format=torch.channels_last)


def test_dry_run_caps_the_loaders_and_skips_the_self_checks(monkeypatch, capsys, tiny_data_dir):
    import course_utils as cu

    monkeypatch.setenv("COURSE_DRY_RUN", "1")
    profile = config.get_profile("full")
    assert (
        profile.dry_run
        and profile.max_batches == 2
        and profile.mnist_epochs == config.DRY_RUN_EPOCHS < config.PROFILES["full"].mnist_epochs
        and profile.small_data_seeds == config.PROFILES["full"].small_data_seeds  # epochs, batches shrink
        and profile.max_train_batch == config.DRY_RUN_BATCH_SIZE
        and profile.max_eval == profile.small_data_val == config.DRY_RUN_EVAL_IMAGES
    )
    # a recipe for a dry-run profile: at most two epochs and 50 validation images; the batch is capped
    # by the runtime (below), the learning rate left as the profile states it
    recipe = cu.RECIPES["resnet9"].for_profile(profile)
    assert (recipe.epochs, recipe.max_eval, recipe.batch_size) == (config.DRY_RUN_EPOCHS, 50, 512)
    runtime = cu.runtime(profile, "cpu")
    loaders = runtime.loaders(cu.load_mnist(val_size=50), 512)  # a GPU's batch, asked on a dry run
    assert [len(loaders[k]) for k in ("train", "val", "test")] == [2, 1, 1]  # val/test: one batch of 1000
    assert [len(x) for x, _ in loaders["train"]] == [32, 32]  # training batches capped, evaluation not
    assert [len(x) for x, _ in runtime.loader(cu.load_mnist(val_size=50), "test", 40)] == [40, 40]
    assert runtime.train_batch(8) == 8  # smaller batches stay as asked
    profile.check("test accuracy", 0.10, 0.99)  # no assertion in a dry run
    assert "skipped (dry run" in capsys.readouterr().out
    monkeypatch.delenv("COURSE_DRY_RUN")
    assert not config.get_profile("full").dry_run


def test_self_check_passes_or_fails_loudly(capsys):
    cpu = config.get_profile("cpu", dry_run=False)
    cpu.check("test accuracy", 0.995, 0.99)
    assert "99.50% (target >= 99.00%): passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="FAILED"):
        cpu.check("test accuracy", 0.98, 0.99)
    config.get_profile("smoke", dry_run=False).check("test accuracy", 0.2, 0.99)
    assert "skipped (smoke profile" in capsys.readouterr().out


def test_importing_the_package_changes_no_process_setting_but_the_command_line_lets_threads_sleep(tmp_path):
    """Process-wide settings come from explicit calls: an import sets nothing; the command line (which
    must set OMP_WAIT_POLICY before torch loads) starts itself again with PASSIVE unless the user chose."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, course_utils; print(os.environ.get('OMP_WAIT_POLICY'))"
    imported = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert imported.stdout.strip() == "None"
    probe = tmp_path / "sitecustomize.py"  # prints the policy the command line's process runs with
    probe.write_text(
        "import os, sys\n"
        "if '--help' in sys.argv: print('policy', os.environ.get('OMP_WAIT_POLICY'), flush=True)\n"
    )
    command = [sys.executable, "-m", "course_utils.train", "--help"]

    def policy(extra: dict) -> str:
        run = subprocess.run(
            command, env=env | {"PYTHONPATH": str(tmp_path)} | extra, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return [line for line in run.stdout.splitlines() if line.startswith("policy")][-1]  # the last process

    assert policy({}) == "policy PASSIVE"
    assert policy({"OMP_WAIT_POLICY": "ACTIVE"}) == "policy ACTIVE"
