"""A deep ensemble of MLPs held as batched weights, so all members train in one pass.

Member ``k``'s weights are slice ``k`` of tensors shaped `K x in x out`; one forward and one
backward pass update every member (no Python loop over members). The first layer, whose input
is shared by all members, is stored as one `d x (K * hidden)` matrix so that it is a single
matrix product, done with a sparse (CSR) input when the features are sparse fingerprints.
Diversity comes from a different random initialisation per member and from per-member
bootstrap weights on the training rows; training (with per-member early stopping on the
out-of-bag rows) is ``training.train_members``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .training import TrainConfig, train_members

__all__ = ["SparseRows", "VectorisedMLPEnsemble", "train_ensemble"]

#: Inputs with at most this fraction of non-zeros go through a sparse first layer.
SPARSE_DENSITY = 0.1


@dataclass
class SparseRows:
    """Rows of a sparse `n x d` matrix in CSR form, as ``F.embedding_bag`` takes them.

    Attributes:
        cols: Column index of every non-zero, row after row (`nnz`, int64).
        values: The non-zeros (`nnz`).
        offsets: Start of each row in ``cols`` (`n`, int64).
    """

    cols: Tensor
    values: Tensor
    offsets: Tensor

    @staticmethod
    def from_dense(X: Tensor) -> SparseRows:
        """Compress a dense `n x d` tensor."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            C = X.detach().to_sparse_csr()
        return SparseRows(C.col_indices(), C.values(), C.crow_indices()[:-1].contiguous())

    def select(self, idx: Tensor) -> SparseRows:
        """The rows ``idx`` (`b`, int64), in that order."""
        ends = torch.cat([self.offsets[1:], self.offsets.new_tensor([self.cols.numel()])])
        starts, lengths = self.offsets[idx], (ends - self.offsets)[idx]
        new_offsets = torch.cumsum(lengths, 0) - lengths
        pos = torch.repeat_interleave(starts - new_offsets, lengths) + torch.arange(
            int(lengths.sum()), dtype=torch.int64, device=self.cols.device)
        return SparseRows(self.cols[pos], self.values[pos], new_offsets)


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


class VectorisedMLPEnsemble(nn.Module):
    """``K`` ReLU MLPs with scalar output, evaluated together.

    Example:
        >>> net = VectorisedMLPEnsemble(in_dim=3, members=5, hidden=16, layers=2)
        >>> net(torch.rand(10, 3)).shape
        torch.Size([5, 10])
    """

    def __init__(
        self,
        in_dim: int,
        members: int = 5,
        hidden: int = 256,
        layers: int = 2,
        dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        """Build the ensemble with an independent random initialisation per member.

        Args:
            in_dim: Input dimension ``d``.
            members: Ensemble size ``K``.
            hidden: Width of every hidden layer.
            layers: Number of hidden layers (at least 1).
            dropout: Dropout probability after each hidden activation (training only).
            seed: Seed of the initialisation.
        """
        super().__init__()
        if layers < 1 or members < 1 or hidden < 1 or in_dim < 1:
            raise ValueError(f"need in_dim, members, hidden, layers >= 1, got "
                             f"{in_dim=}, {members=}, {hidden=}, {layers=}")
        self.in_dim, self.members, self.hidden, self.layers = in_dim, members, hidden, layers
        self.dropout = float(dropout)
        g = torch.Generator().manual_seed(int(seed))
        K, h = members, hidden
        self.w_in = nn.Parameter(_uniform((in_dim, K * h), in_dim, g))
        self.b_in = nn.Parameter(_uniform((K, 1, h), in_dim, g))
        self.w_hidden = nn.ParameterList(
            [nn.Parameter(_uniform((K, h, h), h, g)) for _ in range(layers - 1)])
        self.b_hidden = nn.ParameterList(
            [nn.Parameter(_uniform((K, 1, h), h, g)) for _ in range(layers - 1)])
        self.w_out = nn.Parameter(_uniform((K, h, 1), h, g))
        self.b_out = nn.Parameter(_uniform((K, 1, 1), h, g))

    def _first_layer(self, X: Tensor | SparseRows) -> Tensor:
        """`n x d` (dense or ``SparseRows``) -> `K x n x hidden` pre-activations."""
        if not isinstance(X, SparseRows):
            X = X.to(self.w_in.dtype)
            sparse = (not X.requires_grad and X.shape[0] > 0
                      and torch.count_nonzero(X).item() <= SPARSE_DENSITY * X.numel())
            if not sparse:
                Z = X @ self.w_in
                return Z.view(-1, self.members, self.hidden).transpose(0, 1) + self.b_in
            X = SparseRows.from_dense(X)
        # a sparse-dense product as a weighted bag of rows of `w_in` (fast forward & backward)
        Z = F.embedding_bag(X.cols, self.w_in, X.offsets, mode="sum",
                            per_sample_weights=X.values.to(self.w_in.dtype))
        return Z.view(-1, self.members, self.hidden).transpose(0, 1) + self.b_in

    def forward(self, X: Tensor | SparseRows) -> Tensor:
        """Evaluate every member.

        Args:
            X: A `n x d` input tensor (cast to the parameters' dtype), or ``SparseRows``.

        Returns:
            A `K x n` tensor of member outputs (in the parameters' dtype).
        """
        H = F.relu(self._first_layer(X))
        H = F.dropout(H, self.dropout, self.training)
        for W, b in zip(self.w_hidden, self.b_hidden):
            H = F.dropout(F.relu(torch.baddbmm(b, H, W)), self.dropout, self.training)
        return torch.baddbmm(self.b_out, H, self.w_out).squeeze(-1)

    def member_view(self, name: str, param: Tensor) -> Tensor:
        """``param`` as a view with the member axis first (`K x ...`).

        Args:
            name: The parameter's name in ``named_parameters()``.
            param: The parameter (or a tensor of its shape).
        """
        if name == "w_in":
            return param.view(self.in_dim, self.members, self.hidden).transpose(0, 1)
        return param


def train_ensemble(
    net: VectorisedMLPEnsemble,
    X: Tensor,
    y: Tensor,
    epochs: int = 200,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    bootstrap: bool = True,
    seed: int = 0,
    patience: int | None = None,
    max_steps: int | None = None,
    val_fraction: float = 0.1,
    keys: Sequence[int] | None = None,
) -> dict[str, float]:
    """Fit all members at once by weighted MSE (see ``training.train_members``).

    Sparse fingerprints go through the first layer as ``SparseRows`` (compressed once).

    Args:
        net: The ensemble to train (in place).
        X: A `n x d` tensor of training inputs.
        y: A `n` tensor of (standardised) targets.
        epochs: Maximum passes over the data.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Rows per minibatch.
        bootstrap: Whether to draw Poisson(1) bootstrap weights per member.
        seed: Seed of the bootstrap weights and the shuffling.
        patience: Per-member early stopping on out-of-bag rows (None: off).
        max_steps: Cap on optimizer steps (None: no cap).
        val_fraction: Shared held-out share when ``bootstrap`` is False.
        keys: stable row keys (see ``training.train_members``).

    Returns:
        The statistics of ``train_members`` (``train_loss``, ``train_rmse``, ``val_mse``,
        ``epochs``, ``best_epoch``, ``steps``, ``fit_seconds``, ``fit_cpu_seconds``).
    """
    dtype = net.w_in.dtype
    X, y = X.to(dtype), y.to(dtype).reshape(-1)
    sparse = X.numel() > 0 and torch.count_nonzero(X).item() <= SPARSE_DENSITY * X.numel()
    rows = SparseRows.from_dense(X) if sparse else None

    def forward_rows(idx: Tensor) -> Tensor:
        return net(X[idx] if rows is None else rows.select(idx))

    config = TrainConfig(epochs=epochs, lr=lr, weight_decay=weight_decay,
                         batch_size=batch_size, bootstrap=bootstrap, patience=patience,
                         val_fraction=val_fraction, max_steps=max_steps, seed=seed)
    return train_members(net, forward_rows, y, config, keys)
