"""JEM: a classifier whose logits also define an energy (Grathwohl et al., "Your classifier is
secretly an energy-based model").

With logits ``f(x)``, ``p(y|x) = softmax(f(x))[y]`` and the joint density is
``p(x, y) ∝ exp(f(x)[y])``, so

- ``E(x, y) = -f(x)[y]``                       (joint energy, used for class-conditional sampling)
- ``E(x)    = -logsumexp_y f(x)[y]``           (marginal energy, used for OOD detection)

There is no separate energy head: the classifier *is* the energy model. The same network trained
with cross-entropy alone is the plain-classifier baseline.
"""
from __future__ import annotations

import torch
from torch import nn

from ebm_engine.energies.base import Energy


def conv_backbone(shape: tuple[int, int], width: int = 32) -> nn.Sequential:
    """A small conv net for one-channel ``shape`` images: three 3×3 convs (two with stride 2), SiLU.

    SiLU keeps ``∇ₓE`` smooth for SGLD and for the gradient-norm score.
    """
    return nn.Sequential(
        nn.Unflatten(1, (1, *shape)),
        nn.Conv2d(1, width, 3, padding=1), nn.SiLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
        nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), nn.SiLU(),
        nn.Flatten(),
    )


class JEM(Energy):
    """Classifier ``f(x)`` on flattened ``(batch, H·W)`` images in [0, 1]; its energy is ``-logsumexp f``.

    ``logits(x)`` are the class scores, ``energy(x)`` the marginal energy ``E(x)``,
    ``joint_energy(x, y)`` the energy ``E(x, y)`` of an (image, label) pair. The feature size after
    the backbone is measured on a dummy input, so any backbone fits.
    """

    def __init__(self, shape: tuple[int, int] = (8, 8), n_classes: int = 10, width: int = 32,
                 backbone: nn.Module | None = None):
        super().__init__()
        if n_classes < 2 or width < 1:
            raise ValueError(f"n_classes must be >= 2 and width >= 1, got {n_classes}, {width}")
        self.shape = tuple(int(s) for s in shape)
        self.n_classes = int(n_classes)
        self.backbone = backbone if backbone is not None else conv_backbone(self.shape, width)
        with torch.no_grad():
            n_features = self.backbone(torch.zeros(1, self.shape[0] * self.shape[1])).shape[1]
        self.classifier = nn.Linear(n_features, self.n_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``f(x)``: ``(batch, n_classes)``."""
        return self.classifier(self.backbone(x.reshape(x.shape[0], -1)))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x) = -logsumexp_y f(x)[y]``: ``(batch,)``."""
        return -torch.logsumexp(self.logits(x), dim=1)

    def joint_energy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``E(x, y) = -f(x)[y]`` for integer labels ``y`` ``(batch,)``."""
        return -self.logits(x).gather(1, y.reshape(-1, 1).long()).squeeze(1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The most likely class of each image."""
        return self.logits(x).argmax(dim=1)


class ClassConditionalEnergy(Energy):
    """``x ↦ E(x, y_i)`` with a fixed label per chain: Langevin on it samples ``p(x | y)``."""

    def __init__(self, model: JEM, labels: torch.Tensor):
        super().__init__()
        self.model = model
        self.labels = labels

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{x.shape[0]} chains but {self.labels.shape[0]} labels")
        return self.model.joint_energy(x, self.labels.to(x.device))
