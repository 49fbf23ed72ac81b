"""A fixture plugin: a surrogate member reached from a config by `module:Class` alone.

A bootstrap ensemble of linear models on the fingerprints (the ensemble's fit, early stopping,
calibration and BoTorch posterior come from `EnsembleSurrogate`): one new file, no registration
line (`surrogate.member: surrogate_plugin:LinearEnsemble`).
"""

import torch
from torch import Tensor, nn

from sciloop.surrogates.ensemble import EnsembleSurrogate


class _Linear(nn.Module):
    """`K` linear models on `n x d` rows, evaluated together: `K x n`."""

    def __init__(self, in_dim: int, members: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.members, self.in_dim = members, in_dim
        self.weight = nn.Parameter(torch.randn(members, in_dim, generator=g) * in_dim**-0.5)
        self.bias = nn.Parameter(torch.zeros(members))

    def forward(self, X: Tensor) -> Tensor:
        return self.weight @ X.to(self.weight.dtype).T + self.bias[:, None]

    def member_view(self, name: str, param: Tensor) -> Tensor:
        return param  # the member axis is already first


class LinearEnsemble(EnsembleSurrogate):
    """Linear members instead of MLPs; counts its fits (the test reads `fits`)."""

    inputs = "vectors"  # what the featurizer must give (fingerprints on molecules)
    fits = 0

    def make_net(self, in_dim: int) -> nn.Module:
        return _Linear(in_dim, self.config.members, self.config.seed)

    def fit(self, designs, y):
        type(self).fits += 1
        return super().fit(designs, y)
