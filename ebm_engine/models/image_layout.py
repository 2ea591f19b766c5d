"""Image batches laid out for fast convolutions on the device they live on."""
from __future__ import annotations

import torch


def conv_layout(images: torch.Tensor) -> torch.Tensor:
    """``(batch, channels, H, W)`` images, channels-last on the CPU: oneDNN's convolutions take them
    without reordering, which made a ConvEBM energy-and-gradient on 128 8×8 digits ~11% faster with
    bit-identical results (weights stay as they are: laying them out too changed the last bits). On a
    GPU the layout is left alone."""
    return images.contiguous(memory_format=torch.channels_last) if images.device.type == "cpu" else images

