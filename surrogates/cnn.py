"""A deep ensemble of 1-D CNNs over token sequences, vectorised with grouped convolutions.

Channels are laid out member by member (`K * h`): the token embedding is one table of width
``K * h``, every convolution is a ``Conv1d`` with ``groups=K`` (member ``k`` only sees its own
channels), and the head is one batched matrix product per layer. Padding (id 0) is masked
out of the max-pooling over positions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .sequences import SequenceFeaturizer

__all__ = ["CNNEnsemble"]


def _uniform(shape: tuple[int, ...], fan_in: int, g: torch.Generator) -> Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=g) * 2.0 - 1.0) * bound


class CNNEnsemble(nn.Module):
    """``K`` 1-D CNNs with scalar output on `n x L` token-id rows, evaluated together.

    Example:
        >>> featurizer = SequenceFeaturizer("ACGT", max_len=8)
        >>> net = CNNEnsemble(featurizer, members=4, hidden=16, layers=2)
        >>> net(featurizer(["ACGT", "GG"])).shape
        torch.Size([4, 2])
    """

    def __init__(self, featurizer: SequenceFeaturizer, members: int = 5, hidden: int = 64,
                 layers: int = 2, seed: int = 0, kernel: int = 5) -> None:
        """Build the ensemble with an independent random initialisation per member.

        Args:
            featurizer: Gives the vocabulary size (``vocab_size``).
            members: Ensemble size ``K``.
            hidden: Channels per member ``h``.
            layers: Number of convolution layers.
            seed: Seed of the initialisation.
            kernel: Convolution width (odd; 'same' padding).
        """
        super().__init__()
        if layers < 1 or members < 1 or hidden < 1:
            raise ValueError(f"need members, hidden, layers >= 1, got {members=}, {hidden=}, "
                             f"{layers=}")
        self.members, self.hidden, self.layers = members, hidden, layers
        self.in_dim = featurizer.dim
        K, h, V = members, hidden, featurizer.vocab_size
        g = torch.Generator().manual_seed(int(seed))
        self.embedding = nn.Parameter(torch.randn(V, K * h, generator=g) * 0.5)
        self.conv_w = nn.ParameterList(
            [nn.Parameter(_uniform((K * h, h, kernel), h * kernel, g)) for _ in range(layers)])
        self.conv_b = nn.ParameterList(
            [nn.Parameter(_uniform((K * h,), h * kernel, g)) for _ in range(layers)])
        self.w_head = nn.Parameter(_uniform((K, h, h), h, g))
        self.b_head = nn.Parameter(_uniform((K, 1, h), h, g))
        self.w_out = nn.Parameter(_uniform((K, h, 1), h, g))
        self.b_out = nn.Parameter(_uniform((K, 1, 1), h, g))

    def forward(self, X: Tensor) -> Tensor:
        """Evaluate every member.

        Args:
            X: A `n x L` tensor of token ids (0 = padding).

        Returns:
            A `K x n` float32 tensor of member outputs.
        """
        K, h = self.members, self.hidden
        ids = X.round().long()
        mask = (ids > 0).unsqueeze(1)  # `n x 1 x L`
        H = F.embedding(ids, self.embedding).transpose(1, 2) * mask  # `n x (K h) x L`
        for w, b in zip(self.conv_w, self.conv_b):
            H = H + F.relu(F.conv1d(H, w, b, padding=w.shape[-1] // 2, groups=K)) * mask
        pooled = H.masked_fill(~mask, -torch.inf).amax(-1).clamp_min(-1e4)  # `n x (K h)`
        Z = pooled.view(-1, K, h).transpose(0, 1)  # `K x n x h`
        Z = F.relu(torch.baddbmm(self.b_head, Z, self.w_head))
        return torch.baddbmm(self.b_out, Z, self.w_out).squeeze(-1)

    def member_view(self, name: str, param: Tensor) -> Tensor:
        """``param`` as a view with the member axis first (`K x ...`).

        Args:
            name: The parameter's name in ``named_parameters()``.
            param: The parameter (or a tensor of its shape).
        """
        K, h = self.members, self.hidden
        if name == "embedding":
            return param.view(-1, K, h).transpose(0, 1)
        if name.startswith("conv_w"):
            return param.view(K, h, *param.shape[1:])
        if name.startswith("conv_b"):
            return param.view(K, h)
        return param
