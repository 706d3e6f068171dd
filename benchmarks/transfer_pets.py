"""Transfer learning on three Oxford-IIIT Pet breeds with the course's CIFAR-10 ResNet-14 (lesson 07).

    COURSE_DATA_DIR=... python benchmarks/transfer_pets.py time  --res 32 48 64 96
    COURSE_DATA_DIR=... python benchmarks/transfer_pets.py tune  --setting finetune --res 64 --lr 0.1 0.03
    COURSE_DATA_DIR=... python benchmarks/transfer_pets.py final --res 64 --seeds 0 1 2 --test

Task: Abyssinian / Bengal (cats) / american_bulldog (dog). The official trainval split (300 images)
minus a stratified validation split of 17 per breed (51 images, fixed seed 0) trains; the official
test split (298 images) is only evaluated with ``--test`` (the ``final`` command). Settings, all on
the same network, ``ResNet(ResidualBlock, [2, 2, 2])`` with a 64 -> 3 head:

- ``scratch``:  fresh initialisation, every layer trained.
- ``frozen``:   the CIFAR-10 checkpoint's backbone frozen (weights *and* batch-norm statistics, i.e.
  kept in eval mode), only the new linear head trained: feature extraction.
- ``finetune``: the checkpoint, every layer trained, backbone lr = head lr * ``--backbone-factor``.
- ``finetune_aug``: ``finetune`` with batch augmentation (flip, crop after zero padding, colour).
- ``scratch_aug``: (extra control) ``scratch`` with the same augmentation.

Images are stored at 128x128; they are downscaled once with antialiasing to ``--res`` and kept as
uint8, so the course's ``TensorLoader`` serves them. Every run: SGD + Nesterov (momentum 0.9,
weight decay 5e-4), OneCycle stepped per batch, batch 32, cross-entropy, the epoch with the best
validation accuracy kept (``train_val_model``). Seeds fix the initialisation of the new layers,
the shuffling and the augmentation; the validation split is the same for every seed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import course_utils as cu

CHECKPOINT = os.path.join(os.path.dirname(__file__), "..", "checkpoints", "resnet14_cifar10.pt")
BREEDS = ["Abyssinian", "Bengal", "american_bulldog"]  # cats first, so the confusion matrix reads well
CIFAR_MEAN = (0.4915, 0.4821, 0.4464)  # the statistics the checkpoint was trained with (45k split)
CIFAR_STD = (0.2469, 0.2435, 0.2614)
SETTINGS = ("scratch", "frozen", "finetune", "finetune_aug", "scratch_aug")


# ------------------------------------------------------------------------------------------------
# Data: breed labels and a resize helper (what the lesson would need from the package).
# ------------------------------------------------------------------------------------------------
def resize_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, size, size), bilinear with antialiasing."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    out = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def load_pet_breeds(res: int, val_per_breed: int = 17, seed: int = 0, norm: str = "cifar") -> cu.Dataset:
    """The 3-breed classification task at ``res`` x ``res``: train / stratified val / official test."""
    path = cu.data.ensure_archive("pets", None)
    arrays = cu.data.read_archive(path, ["x_train", "breed_train", "x_test", "breed_test"])
    splits = {}
    for part in ("train", "test"):
        y = torch.tensor([BREEDS.index(b) for b in arrays[f"breed_{part}"]], dtype=torch.long)
        x = resize_uint8(cu.data.to_nchw(arrays[f"x_{part}"]), res)
        splits[part] = cu.Split(x, y, {"breed": arrays[f"breed_{part}"]})
    val_idx = cu.stratified_subset(splits["train"].y, val_per_breed, seed=seed).sort().values
    keep = torch.ones(len(splits["train"]), dtype=torch.bool)
    keep[val_idx] = False
    train, val = splits["train"].subset(torch.nonzero(keep).flatten()), splits["train"].subset(val_idx)
    if norm == "cifar":
        mean, std = CIFAR_MEAN, CIFAR_STD
    elif norm == "pets":
        mean, std = cu.data.channel_stats(train.x)
    else:
        raise ValueError(norm)
    return cu.Dataset(f"pets-breeds-{res}", train, val, splits["test"], mean, std, BREEDS)


# ------------------------------------------------------------------------------------------------
# Models: swap the head, freeze the backbone, parameter groups.
# ------------------------------------------------------------------------------------------------
class FrozenBackbone(nn.Module):
    """Feature extraction: every layer but ``model.fc`` frozen, and kept in eval mode even while the
    wrapper trains, so the batch-norm layers keep the pretrained running statistics."""

    def __init__(self, model: nn.Module, head: str = "fc"):
        super().__init__()
        self.model, self.head = model, head
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(head + "."))

    def train(self, mode: bool = True):
        super().train(mode)
        for name, child in self.model.named_children():
            if name != self.head:
                child.eval()
        return self

    def forward(self, x):
        return self.model(x)


def build(setting: str, seed: int, num_classes: int = 3, bn_frozen: bool = True) -> nn.Module:
    """ResNet-14 with a fresh ``num_classes`` head: random everywhere (scratch) or on the checkpoint."""
    cu.seed_everything(seed)
    if setting.startswith("scratch"):
        return cu.ResNet(cu.ResidualBlock, [2, 2, 2], num_classes=num_classes)
    model, _ = cu.load_checkpoint(CHECKPOINT)
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # drawn from the seeded generator
    if setting == "frozen":
        if bn_frozen:
            return FrozenBackbone(model)
        for name, p in model.named_parameters():  # frozen weights, batch-norm statistics adapt
            p.requires_grad_(name.startswith("fc."))
    return model


def param_groups(model: nn.Module, head_lr: float, backbone_factor: float, head: str = "fc"):
    """Two groups: the head at ``head_lr``, the rest at ``head_lr * backbone_factor`` (trainable only)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    head_params = [p for n, p in named if n.split(".")[-2] == head]
    body = [p for n, p in named if n.split(".")[-2] != head]
    groups = [{"params": head_params, "lr": head_lr}]
    if body:
        groups.append({"params": body, "lr": head_lr * backbone_factor})
    return groups


# ------------------------------------------------------------------------------------------------
# One run.
# ------------------------------------------------------------------------------------------------
def augment_for(setting: str, res: int, color: float, crop: int | None, zoom: float) -> cu.Augment | None:
    if not setting.endswith("_aug"):
        return None
    pad = res // 8 if crop is None else crop
    return cu.Augment(crop_padding=pad, flip=True, color=color, zoom=zoom)


def run(args, data: cu.Dataset, setting: str, seed: int, lr: float, epochs: int, test: bool) -> dict:
    torch.set_num_threads(args.threads)
    model = build(setting, seed, bn_frozen=not args.frozen_bn_adapt)
    augment = augment_for(setting, data.image_shape[-1], args.color, args.crop, args.zoom)
    loaders = {
        "train": cu.TensorLoader(
            data.train, args.batch_size, data.mean, data.std, shuffle=True, augment=augment, seed=seed
        ),
        "val": cu.TensorLoader(data.val, 500, data.mean, data.std),
        "test": cu.TensorLoader(data.test, 500, data.mean, data.std),
    }
    factor = 1.0 if setting.startswith("scratch") else args.backbone_factor
    groups = param_groups(model, lr, factor)
    optimizer = cu.make_optimizer("nesterov", groups, lr=lr, weight_decay=args.weight_decay)
    max_lr = [g["lr"] for g in groups]
    scheduler = cu.one_cycle(optimizer, max_lr, epochs, len(loaders["train"]), pct_start=args.warmup)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    tic, cpu = time.perf_counter(), time.process_time()
    result = cu.train_val_model(
        model, criterion, optimizer, loaders, epochs, scheduler, log_interval=0, progress=False
    )
    train_s, cpu_s = time.perf_counter() - tic, time.process_time() - cpu
    h = result.history
    out = dict(
        setting=setting,
        res=data.image_shape[-1],
        seed=seed,
        lr=lr,
        epochs=epochs,
        best_epoch=h.best_epoch,
        val=h.best_val,
        val_last=h.metrics["val"][-1],
        train_last=h.metrics["train"][-1],
        train_s=train_s,
        cpu_s=cpu_s,
        epoch_s=statistics.median(h.epoch_times),
        epoch_times=list(h.epoch_times),
    )
    if test:
        tic = time.perf_counter()
        outputs, targets = cu.predict(model, loaders["test"])
        out["test"] = float((outputs.argmax(1) == targets).float().mean())
        out["confusion"] = cu.confusion_matrix(outputs.argmax(1), targets, len(BREEDS))
        out["test_s"] = time.perf_counter() - tic
    return out


def line(r: dict) -> str:
    s = (
        f"{r['setting']:<13} res {r['res']:>3} seed {r['seed']} lr {r['lr']:<7g} ep {r['epochs']:>3}  "
        f"best val {100 * r['val']:6.2f}% @ep{r['best_epoch']:<3} last val {100 * r['val_last']:6.2f}%  "
        f"train(last) {100 * r['train_last']:6.2f}%  {r['train_s']:6.1f} s ({r['epoch_s']:.2f} s/epoch, "
        f"CPU {r['cpu_s'] / r['epochs']:.2f} s/epoch)"
    )
    if "test" in r:
        s += f"  TEST {100 * r['test']:6.2f}%"
    return s


def header(args, data: cu.Dataset | None = None) -> None:
    print(f"# {' '.join(os.sys.argv)}")
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"threads {args.threads}, loadavg at start {os.getloadavg()[0]:.2f}"
    )
    if data is not None:
        counts = [torch.bincount(s.y, minlength=3).tolist() for s in data.splits().values()]
        print(f"# {data}; per breed train/val/test {counts}; norm mean {data.mean} std {data.std}")
    print(
        f"# batch {args.batch_size}, nesterov wd {args.weight_decay}, onecycle warmup {args.warmup}, "
        f"backbone lr factor {args.backbone_factor}, label smoothing {args.label_smoothing}, "
        f"aug: crop {args.crop if args.crop is not None else 'res/8'} flip "
        f"colour {args.color} zoom {args.zoom}"
    )


# ------------------------------------------------------------------------------------------------
# Commands.
# ------------------------------------------------------------------------------------------------
def cmd_time(args) -> None:
    """Seconds per epoch (train 249 + validate 51 images) at each resolution, median of the epochs."""
    header(args)
    print("| res | setting | epochs | wall s/epoch (median) | min | max | CPU s/epoch (mean) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for res in args.res:
        data = load_pet_breeds(res, args.val_per_breed, norm=args.norm)
        for setting in args.settings or ("finetune", "frozen"):
            r = run(args, data, setting, 0, args.lr[0], args.epochs[0], test=False)
            t = r["epoch_times"]
            print(
                f"| {res} | {setting} | {len(t)} | {statistics.median(t):.2f} | {min(t):.2f} | "
                f"{max(t):.2f} | {r['cpu_s'] / len(t):.2f} |"
                f"  loadavg {os.getloadavg()[0]:.2f}",
                flush=True,
            )


def cmd_tune(args) -> None:
    """Validation accuracy for every (res, setting, lr, epochs, seed); no test set."""
    header(args)
    for res in args.res:
        data = load_pet_breeds(res, args.val_per_breed, norm=args.norm)
        print(f"# {data}; mean {data.mean} std {data.std}")
        for setting in args.settings:
            for epochs in args.epochs:
                for lr in args.lr:
                    vals = []
                    for seed in args.seeds:
                        r = run(args, data, setting, seed, lr, epochs, test=False)
                        vals.append(r["val"])
                        print(line(r), flush=True)
                    if len(vals) > 1:
                        print(
                            f"  -> {setting} res {res} lr {lr:g} ep {epochs}: best val mean "
                            f"{100 * statistics.mean(vals):.2f} +- {100 * statistics.stdev(vals):.2f}%",
                            flush=True,
                        )


def cmd_final(args) -> list[dict]:
    """The lesson: every setting x seed with its own (lr, epochs), test accuracy, a confusion matrix."""
    data = load_pet_breeds(args.res[0], args.val_per_breed, norm=args.norm)
    header(args, data)
    recipe = {}
    for spec in args.recipe:  # setting=lr:epochs
        name, rest = spec.split("=")
        lr, epochs = rest.split(":")
        recipe[name] = (float(lr), int(epochs))
    results, tic = [], time.perf_counter()
    for setting in args.settings:
        lr, epochs = recipe[setting]
        for seed in args.seeds:
            r = run(args, data, setting, seed, lr, epochs, test=args.test)
            results.append(r)
            print(line(r), flush=True)
    total = time.perf_counter() - tic
    print(f"\n# total wall time of the {len(results)} runs (train + val + test): {total:.1f} s")
    print(f"# sum of train_val_model times: {sum(r['train_s'] for r in results):.1f} s")
    key = "test" if args.test else "val"
    print(f"\n| setting | lr | epochs | {key} acc per seed | mean +- std | best val mean | s per run |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    means = {}
    for setting in args.settings:
        rs = [r for r in results if r["setting"] == setting]
        accs = [100 * r[key] for r in rs]
        means[setting] = statistics.mean(accs)
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(
            f"| {setting} | {recipe[setting][0]:g} | {recipe[setting][1]} | "
            f"{' / '.join(f'{a:.2f}' for a in accs)} | {means[setting]:.2f} +- {sd:.2f} | "
            f"{statistics.mean(100 * r['val'] for r in rs):.2f} | "
            f"{statistics.mean(r['train_s'] for r in rs):.1f} |"
        )
    if "scratch" in means:
        for s in ("finetune", "finetune_aug", "frozen"):
            if s in means:
                print(f"# {s} - scratch: {means[s] - means['scratch']:+.2f} points ({key})")
    if args.test:
        for setting in args.settings:
            cm = sum(r["confusion"] for r in results if r["setting"] == setting)
            print(
                f"\n# confusion matrix of {setting} on the test set, summed over seeds {args.seeds} "
                "(rows: true, columns: predicted)"
            )
            print(f"{'':>18}" + "".join(f"{b:>18}" for b in BREEDS))
            for i, b in enumerate(BREEDS):
                print(f"{b:>18}" + "".join(f"{int(v):>18}" for v in cm[i]))
            print(
                "# per seed: "
                + "  ".join(
                    f"{r['seed']}: {r['confusion'].tolist()}" for r in results if r["setting"] == setting
                )
            )
    return results


@torch.no_grad()
def cmd_probe(args) -> None:
    """What the unchanged CIFAR-10 network says about the training + validation pets (no test set):
    the CIFAR-10 class it predicts for each breed, at each resolution."""
    header(args)
    model, _ = cu.load_checkpoint(CHECKPOINT)
    model.eval()
    names = cu.data.CIFAR10_CLASSES
    for res in args.res:
        data = load_pet_breeds(res, args.val_per_breed, norm=args.norm)
        x = torch.cat([data.train.x, data.val.x])
        y = torch.cat([data.train.y, data.val.y])
        loader = cu.TensorLoader(cu.Split(x, y), 500, data.mean, data.std)
        pred = cu.predict(model, loader)[0].argmax(1)
        print(f"\n# res {res}: CIFAR-10 predictions of the original network on the 300 trainval images")
        print(f"{'':>18}" + "".join(f"{n[:5]:>6}" for n in names) + "  cat-or-dog right")
        for b, breed in enumerate(BREEDS):
            counts = torch.bincount(pred[y == b], minlength=10)
            want = names.index("dog") if breed == "american_bulldog" else names.index("cat")
            print(
                f"{breed:>18}"
                + "".join(f"{int(c):>6}" for c in counts)
                + f"  {100 * counts[want].item() / counts.sum().item():5.1f}% as {names[want]}"
            )


def main(argv: list[str] | None = None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["time", "tune", "final", "probe"])
    p.add_argument("--res", type=int, nargs="+", default=[64])
    p.add_argument("--settings", nargs="+", choices=SETTINGS, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--lr", type=float, nargs="+", default=[0.05], help="head lr (tune, time)")
    p.add_argument("--epochs", type=int, nargs="+", default=[10], help="(tune, time)")
    p.add_argument("--recipe", nargs="+", default=[], help="final: setting=lr:epochs ...")
    p.add_argument("--backbone-factor", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup", type=float, default=0.25)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--color", type=float, default=0.1)
    p.add_argument("--crop", type=int, default=None, help="zero padding of the random crop (default res/8)")
    p.add_argument("--zoom", type=float, default=0.0)
    p.add_argument("--norm", choices=["cifar", "pets"], default="cifar")
    p.add_argument("--frozen-bn-adapt", action="store_true", help="frozen: let batch-norm statistics adapt")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--val-per-breed", type=int, default=17, help="validation images per breed")
    p.add_argument("--test", action="store_true", help="final: evaluate on the test set")
    args = p.parse_args(argv)
    if args.settings is None:
        args.settings = ["scratch", "frozen", "finetune", "finetune_aug"] if args.command != "time" else None
    torch.set_num_threads(args.threads)
    return {"time": cmd_time, "tune": cmd_tune, "final": cmd_final, "probe": cmd_probe}[args.command](args)


if __name__ == "__main__":
    main()
