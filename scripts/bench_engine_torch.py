"""Float forward latency in PyTorch of lowbit's model builders (vgg_small, resnet18/20 with basic or
Bi-Real blocks, lenet), for `bench model`. Prints one line: "<median ms per batch>".

usage: bench_engine_torch.py ARCH WIDTH BLOCK CHANNELS SIZE CLASSES BATCH THREADS [REPEATS]
"""
import statistics
import sys
import time

import torch
from torch import nn


def vgg_small(w, c, size, classes):
    layers, cin = [], c
    for stage in range(3):
        out = w << stage
        for _ in range(2):
            layers += [nn.Conv2d(cin, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            cin = out
        layers.append(nn.MaxPool2d(2))
        size //= 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * size * size, classes))


def lenet(w, c, size, classes):
    return nn.Sequential(
        nn.Conv2d(c, w, 5, 1, 2, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, 2 * w, 5, 1, 2, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * w * (size // 4) ** 2, 512, bias=False), nn.BatchNorm1d(512),
        nn.ReLU(), nn.Linear(512, classes))


class Basic(nn.Module):
    def __init__(self, cin, out, stride):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                                  nn.Conv2d(out, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out))
        self.down = None
        if stride != 1 or cin != out:
            self.down = nn.Sequential(nn.Conv2d(cin, out, 1, stride, 0, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        return torch.relu(self.body(x) + (self.down(x) if self.down is not None else x))


class BiReal(nn.Module):
    def __init__(self, cin, out, stride):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out))
        self.down = None
        if stride != 1 or cin != out:
            pool = [nn.AvgPool2d(3, stride, 1)] if stride != 1 else []
            self.down = nn.Sequential(*pool, nn.Conv2d(cin, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        return self.body(x) + (self.down(x) if self.down is not None else x)


def resnet(blocks, w, block, c, classes):
    mods = [nn.Conv2d(c, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w)]
    if block == "basic":
        mods.append(nn.ReLU())
    cin = w
    for s, n in enumerate(blocks):
        out = w << s
        count = 2 * n if block == "bireal" else n
        for k in range(count):
            stride = 2 if s > 0 and k == 0 else 1
            mods.append((BiReal if block == "bireal" else Basic)(cin, out, stride))
            cin = out
    return nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def main():
    arch, width, block = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    c, size, classes, batch, threads = (int(v) for v in sys.argv[4:9])
    repeats = int(sys.argv[9]) if len(sys.argv) > 9 else 20
    torch.set_num_threads(threads)
    if arch == "vgg_small":
        net = vgg_small(width or 128, c, size, classes)
    elif arch == "lenet":
        net = lenet(width or 32, c, size, classes)
    elif arch == "resnet18":
        net = resnet([2, 2, 2, 2], width or 64, block, c, classes)
    elif arch == "resnet20":
        net = resnet([3, 3, 3], width or 16, block, c, classes)
    else:
        sys.exit(f"bench_engine_torch.py: no PyTorch twin for '{arch}'")
    net.eval()
    x = torch.rand(batch, c, size, size)
    times = []
    with torch.no_grad():
        for i in range(repeats + 3):
            t0 = time.perf_counter()
            net(x)
            if i >= 3:
                times.append(time.perf_counter() - t0)
    print(f"{1000 * statistics.median(times):.4f}")


if __name__ == "__main__":
    main()
