"""Train the two breed classifiers that lesson 08 explains, exactly as lesson 07 trains them (seed 0).

    COURSE_DATA_DIR=/path/to/data python tools/train_pet_classifiers.py

Writes ``course_utils/checkpoints/pets_breeds_{scratch,finetune}.pt`` and a JSON report beside each
(test accuracy, history, machine), and prints the SHA-256 lines for ``course_utils/pretrained.py``.
The recipe is ``cu.transfer.BREEDS_RECIPE`` with the ``cpu`` profile's epochs, on the CPU.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time

import torch

import course_utils as cu
from course_utils import pretrained, transfer
from course_utils._io import atomic_write


def main() -> None:
    profile = cu.get_profile("cpu", dry_run=False)
    runtime = cu.Runtime(torch.device("cpu"))
    _, meta = cu.load_pretrained("resnet14_cifar10")
    size = transfer.BREEDS_RECIPE["size"]
    breeds = transfer.resize_images(cu.pet_breeds(cu.load_pets()), size).with_stats(*meta["normalization"])
    test = runtime.loader(breeds, "test", 500)
    for setting in ("scratch", "finetune"):
        tic = time.perf_counter()
        model, _, _ = result = transfer.train_breed_classifier(
            setting, breeds, runtime, profile.transfer_epochs, seed=0
        )
        seconds = time.perf_counter() - tic
        acc = cu.evaluate(model, test)["acc"]
        name = f"pets_breeds_{setting}"
        history = result.history.as_dict()
        extra = {
            "recipe": {k: v for k, v in transfer.BREEDS_RECIPE.items() if k != "augment"},
            "setting": setting,
        }
        metrics = {"test": {"acc": acc}}
        path = pretrained.FOLDER / f"{name}.pt"
        cu.save_checkpoint(
            path, model, epoch=history["best_epoch"], metrics=metrics, history=history, extra=extra
        )
        report = {
            "setting": setting,
            "size": size,
            "epochs": profile.transfer_epochs,
            "seed": 0,
            "test": {"acc": acc},
            "train_seconds": round(seconds, 1),
            "device": "cpu",
            "machine": platform.processor() or platform.machine(),
            "class_names": breeds.class_names,
            "normalization": meta["normalization"],
        }
        atomic_write(path.with_suffix(".json"), lambda f, r=report: f.write(json.dumps(r, indent=1).encode()))
        print(f"{setting}: test accuracy {acc:.2%} in {seconds:.0f} s")
        for file in (path, path.with_suffix(".json")):
            print(f'    "{file.name}": "{hashlib.sha256(file.read_bytes()).hexdigest()}",')


if __name__ == "__main__":
    main()
