"""The seed demo's small MobileNetV2 (80x80 input, stride-1 stem), to load its checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from function.preprocess import ModelSpec

SEED_SPEC = ModelSpec(
    input_size=80,
    margin=0.0,
    scale=1.0,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    labels=("male", "female"),
)

# (expansion, out_channels, blocks, first stride)
_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 1), (6, 128, 2, 2), (6, 256, 1, 2)]


class _InvertedResidual(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int):
        super().__init__()
        hidden = expansion * in_channels
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class SeedMobileNet(nn.Module):
    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        layers, channels = [], 32
        for expansion, out_channels, blocks, first_stride in _BLOCKS:
            for i in range(blocks):
                layers.append(_InvertedResidual(channels, out_channels, expansion, first_stride if i == 0 else 1))
                channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.conv2 = nn.Conv2d(256, 512, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = torch.relu(self.bn2(self.conv2(out)))
        out = nn.functional.avg_pool2d(out, 5).flatten(1)
        return self.linear(out)


def load_seed(checkpoint: Path) -> SeedMobileNet:
    model = SeedMobileNet()
    model.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    return model.eval()
