"""The reference chapter's pipeline, kept here only as the baseline every speed claim is measured against.

Per-sample ``ToTensor()`` + ``Normalize()`` in a ``DataLoader`` (batch 64, no workers), and a training
loop equivalent to the seed's ``train_val_model``: a Python loop over batches that reads the loss and
the correct count back with ``.item()`` at every step, and deep-copies the best weights.
"""

from __future__ import annotations

import copy
import time

import torch


def seed_train_val_model(model, criterion, optimizer, dataloaders, num_epochs, device="cpu"):
    """Train then validate each epoch; keep the best validation accuracy's weights (as the seed did)."""
    best_acc, best_weights = 0.0, copy.deepcopy(model.state_dict())
    losses, accuracies = {"train": [], "val": []}, {"train": [], "val": []}
    since = time.time()
    for _epoch in range(num_epochs):
        for phase in ["train", "val"]:
            model.train(phase == "train")
            running_loss, running_corrects, n = 0.0, 0, 0
            for inputs, labels in dataloaders[phase]:
                inputs, labels = inputs.to(device), labels.to(device)
                optimizer.zero_grad()
                with torch.set_grad_enabled(phase == "train"):
                    outputs = model(inputs)
                    _, preds = torch.max(outputs, 1)
                    loss = criterion(outputs, labels)
                    if phase == "train":
                        loss.backward()
                        optimizer.step()
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data).item()
                n += inputs.size(0)
            losses[phase].append(running_loss / n)
            accuracies[phase].append(running_corrects / n)
            if phase == "val" and accuracies["val"][-1] > best_acc:
                best_acc, best_weights = accuracies["val"][-1], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_weights)
    return model, losses, accuracies, time.time() - since
