#!/usr/bin/env python3
"""PyTorch side of scripts/bench_train.sh: trains the same networks as lowbit's `lenet` and
`resnet18` (CIFAR stem) on Fashion-MNIST batches and prints the median images/s.

Usage: bench_train.py MODEL BATCH THREADS STEPS     (needs Debian's python3-torch)
Prints one line: "images_per_second <median> peak_rss_kb <kb>".
"""
import gzip
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = "/usr/share/datasets/fashion-mnist"


def load_images():
    with gzip.open(f"{ROOT}/train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{ROOT}/train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


class LeNet(nn.Module):
    """lowbit's lenet: conv5x5(pad 2)-BN-ReLU-maxpool2 x2 (32, 64 channels), FC 512-BN-ReLU, FC."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 7 * 7, 512, bias=False)
        self.bn_fc1 = nn.BatchNorm1d(512)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn_fc1(self.fc1(torch.flatten(x, 1))))
        return self.fc(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet18(nn.Module):
    """lowbit's resnet18 with the CIFAR stem (3x3 stride 1, no max-pool)."""

    def __init__(self, cin=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, c = [], 64
        for width, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(c, width, stride), BasicBlock(width, width, 1)]
            c = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    model_name, batch, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    images, labels = load_images()
    model = LeNet() if model_name == "lenet" else ResNet18()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    rates = []
    perm = torch.randperm(images.shape[0])
    for step in range(steps):
        idx = perm[(step * batch) % (images.shape[0] - batch):][:batch]
        t0 = time.perf_counter()
        x = (images[idx].float() / 255.0 - 0.2860) / 0.3530
        y = labels[idx]
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rates.append(batch / (time.perf_counter() - t0))
    warm = rates[min(3, len(rates) - 1):]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"images_per_second {statistics.median(warm):.1f} peak_rss_kb {rss}")


if __name__ == "__main__":
    main()
