"""ResNet9 on CIFAR-10 to 94% test accuracy, timed: the GPU end of the course.

Data stays on the GPU as uint8 (course_utils.TensorLoader); the recipe follows Page's DAWNBench
ResNet9: batch 512, Nesterov SGD with a triangular one-cycle schedule, label smoothing 0.2,
crop + flip + cutout, bf16 autocast, channels_last, and flip test-time augmentation.

    python benchmarks/gpu_resnet9.py --seeds 3            # on a GPU
    python benchmarks/gpu_resnet9.py --quick              # a seconds-long check on any machine

Published anchors: 26 s on one V100 (Page, "How to train your ResNet"), ~15 s on one A100.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn

import course_utils as cu

# All hyper-parameters in one visible place.
RECIPE = dict(
    epochs=18,
    batch_size=512,
    lr=0.4,  # peak learning rate, reached after `warmup` of the epochs
    warmup=0.25,
    momentum=0.9,
    weight_decay=5e-4,
    label_smoothing=0.2,
    crop_padding=4,
    cutout=8,
)


def triangle(optimizer, peak: float, total_steps: int, warmup: float):
    """Linear warm-up to ``peak``, then linear decay to 0: Page's schedule, per step."""
    up = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        return step / up if step < up else max(0.0, (total_steps - step) / (total_steps - up))

    for group in optimizer.param_groups:
        group["lr"] = peak
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def tta_accuracy(model, loader, amp: bool) -> float:
    """Test accuracy averaging the predictions of each image and its mirror."""
    model.eval()
    correct = seen = 0
    for x, y in loader:
        with cu.train.loop.autocast(x.device, amp):
            logits = model(x) + model(x.flip(-1))
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    return float(correct) / seen


def train_once(data, seed: int, args, device) -> dict:
    r = RECIPE | {"epochs": args.epochs, "batch_size": args.batch_size}
    cu.seed_everything(seed)
    aug = cu.Augment(crop_padding=r["crop_padding"], flip=True, cutout=r["cutout"])
    fmt = dict(device=device, channels_last=args.channels_last)
    train = cu.TensorLoader(
        data.train.head(args.max_train),
        r["batch_size"],
        data.mean,
        data.std,
        shuffle=True,
        augment=aug,
        drop_last=True,
        seed=seed,
        **fmt,
    )
    test = cu.TensorLoader(data.test.head(args.max_eval), 1000, data.mean, data.std, **fmt)
    model = cu.ResNet9().to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if args.compile else model
    optimizer = torch.optim.SGD(
        model.parameters(), lr=r["lr"], momentum=r["momentum"], nesterov=True, weight_decay=r["weight_decay"]
    )
    scheduler = triangle(optimizer, r["lr"], r["epochs"] * len(train), r["warmup"])
    criterion = nn.CrossEntropyLoss(label_smoothing=r["label_smoothing"])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    tic = time.perf_counter()
    for _ in range(r["epochs"]):
        cu.train.run_epoch(
            step_model,
            train,
            criterion,
            optimizer=optimizer,
            scheduler=scheduler,
            device=device,
            amp=args.amp,
        )
    sync()
    seconds = time.perf_counter() - tic
    return {
        "seed": seed,
        "train_s": seconds,
        "tta_acc": tta_accuracy(model, test, args.amp),
        "acc": cu.evaluate(model, test)["acc"],
    }


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=RECIPE["batch_size"])
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--max-eval", type=int, default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile the model (warm-up untimed)")
    p.add_argument("--no-amp", dest="amp", action="store_false")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--quick", action="store_true", help="1 epoch on 256 images, 1 seed (a CPU check)")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.batch_size = 1, 1, 64
        args.max_train, args.max_eval = args.max_train or 256, args.max_eval or 256
    device = cu.get_device(args.device)
    args.amp = args.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = cu.load_cifar10(args.data_dir)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    recipe = RECIPE | {"epochs": args.epochs, "batch_size": args.batch_size}
    print(
        f"ResNet9 | {name} | torch {torch.__version__} | amp={args.amp} "
        f"channels_last={args.channels_last} compile={args.compile} | recipe {recipe}"
    )
    if args.compile:  # compile once on a throw-away run so that the timed runs are warm
        train_once(data, 1000, argparse.Namespace(**{**vars(args), "epochs": 1}), device)
    runs = []
    for seed in range(args.seeds):
        run = train_once(data, seed, args, device)
        runs.append(run)
        print(
            f"seed {seed}: {run['train_s']:.1f} s  test acc {100 * run['acc']:.2f}%  "
            f"with flip TTA {100 * run['tta_acc']:.2f}%",
            flush=True,
        )
    accs = [r["tta_acc"] for r in runs]
    times = [r["train_s"] for r in runs]
    print(
        f"median train time {statistics.median(times):.1f} s | "
        f"TTA acc mean {100 * statistics.mean(accs):.2f}% "
        f"(min {100 * min(accs):.2f}%) | runs >= 94%: {sum(a >= 0.94 for a in accs)}/{len(accs)}"
    )
    return runs


if __name__ == "__main__":
    main()
