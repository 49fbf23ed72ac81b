"""A deep ensemble of GINE networks (torch-geometric's ``GINEConv``), vectorised over members.

All ``K`` members run in one graph pass: node states are `N x (K * h)`, member ``k`` owning
channels ``k*h .. (k+1)*h``. Sum aggregation and the edge embedding (a ``Linear`` to
``K * h``) act channel by channel, so they never mix members; the per-node update MLP of each
``GINEConv`` is a ``GroupedMLP`` (one batched matrix product per layer, weights `K x h x h`).
Readout: mean and sum pooling per member, then a per-member MLP head.

The input is the `n x 1` tensor of graph-table indices made by ``GraphFeaturizer``; the net
keeps a reference to that featurizer and collates the graphs itself.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool

from .graphs import ATOM_VOCAB, BOND_DIM, GraphFeaturizer

__all__ = ["GINEEnsemble", "GroupedMLP"]


def _uniform(shape: tuple[int, ...], fan_in: int, g: torch.Generator) -> Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=g) * 2.0 - 1.0) * bound


class GroupedMLP(nn.Module):
    """``K`` two-layer MLPs on the member blocks of `N x (K * h)` inputs."""

    def __init__(self, members: int, hidden: int, g: torch.Generator) -> None:
        """Args:
            members: ``K``.
            hidden: ``h`` (input, hidden and output width of each member).
            g: Generator of the initialisation.
        """
        super().__init__()
        K, h = members, hidden
        self.members, self.hidden, self.in_channels = K, h, K * h
        self.w1 = nn.Parameter(_uniform((K, h, h), h, g))
        self.b1 = nn.Parameter(_uniform((K, 1, h), h, g))
        self.w2 = nn.Parameter(_uniform((K, h, h), h, g))
        self.b2 = nn.Parameter(_uniform((K, 1, h), h, g))

    def forward(self, x: Tensor) -> Tensor:
        """`N x (K * h)` -> `N x (K * h)`."""
        H = x.view(-1, self.members, self.hidden).transpose(0, 1)  # `K x N x h`
        H = torch.baddbmm(self.b2, F.relu(torch.baddbmm(self.b1, H, self.w1)), self.w2)
        return H.transpose(0, 1).reshape(-1, self.in_channels)


class GINEEnsemble(nn.Module):
    """``K`` GINE networks with scalar output over molecular graphs, evaluated together.

    Example:
        >>> featurizer = GraphFeaturizer()
        >>> net = GINEEnsemble(featurizer, members=5, hidden=32, layers=3)
        >>> net(featurizer(["CCO", "c1ccccc1"])).shape
        torch.Size([5, 2])
    """

    def __init__(self, featurizer: GraphFeaturizer, members: int = 5, hidden: int = 64,
                 layers: int = 3, seed: int = 0) -> None:
        """Build the ensemble with an independent random initialisation per member.

        Args:
            featurizer: The graph table that input indices refer to.
            members: Ensemble size ``K``.
            hidden: Node state width ``h`` per member.
            layers: Number of ``GINEConv`` layers (residual).
            seed: Seed of the initialisation.
        """
        super().__init__()
        if layers < 1 or members < 1 or hidden < 1:
            raise ValueError(f"need members, hidden, layers >= 1, got {members=}, {hidden=}, "
                             f"{layers=}")
        self.featurizer = featurizer
        self.members, self.hidden, self.layers = members, hidden, layers
        K, h = members, hidden
        g = torch.Generator().manual_seed(int(seed))
        self.atom_embedding = nn.Parameter(torch.randn(ATOM_VOCAB, K * h, generator=g) * 0.3)
        self.convs = nn.ModuleList()
        for _ in range(layers):
            conv = GINEConv(GroupedMLP(K, h, g), edge_dim=BOND_DIM)
            with torch.no_grad():  # seeded, independent per member (not torch's global RNG)
                conv.lin.weight.copy_(_uniform((K * h, BOND_DIM), BOND_DIM, g))
                conv.lin.bias.copy_(_uniform((K * h,), BOND_DIM, g))
            self.convs.append(conv)
        self.w_head = nn.Parameter(_uniform((K, 2 * h, h), 2 * h, g))
        self.b_head = nn.Parameter(_uniform((K, 1, h), 2 * h, g))
        self.w_out = nn.Parameter(_uniform((K, h, 1), h, g))
        self.b_out = nn.Parameter(_uniform((K, 1, 1), h, g))

    def forward(self, X: Tensor) -> Tensor:
        """Evaluate every member.

        Args:
            X: A `n x 1` tensor of graph-table indices (from ``GraphFeaturizer``).

        Returns:
            A `K x n` float32 tensor of member outputs.
        """
        K, h = self.members, self.hidden
        g = self.featurizer.batch(X[..., 0].round().long()).to(self.atom_embedding.device)
        H = F.embedding_bag(g.x, self.atom_embedding, mode="sum")  # `N x (K * h)`
        for conv in self.convs:
            H = H + F.relu(conv(H, g.edge_index, g.edge_attr))
        pooled = torch.cat([global_mean_pool(H, g.batch, g.num_graphs).view(-1, K, h),
                            global_add_pool(H, g.batch, g.num_graphs).view(-1, K, h) / 10.0],
                           dim=-1).transpose(0, 1)  # `K x n x 2h`
        Z = F.relu(torch.baddbmm(self.b_head, pooled, self.w_head))
        return torch.baddbmm(self.b_out, Z, self.w_out).squeeze(-1)

    def member_view(self, name: str, param: Tensor) -> Tensor:
        """``param`` as a view with the member axis first (`K x ...`).

        Args:
            name: The parameter's name in ``named_parameters()``.
            param: The parameter (or a tensor of its shape).
        """
        K, h = self.members, self.hidden
        if name == "atom_embedding":
            return param.view(ATOM_VOCAB, K, h).transpose(0, 1)
        if name.endswith("lin.weight"):
            return param.view(K, h, BOND_DIM)
        if name.endswith("lin.bias"):
            return param.view(K, h)
        return param  # grouped weights `K x ...`
