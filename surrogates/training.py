"""Fit the members of a vectorised ensemble together, with per-member early stopping.

Any ensemble network whose parameters carry a member axis can be trained here: it exposes
``members`` (``K``) and ``member_view(name, param) -> Tensor``, a view of ``param`` with the
member axis first (`K x ...`), through which the best weights of each member are saved and
restored independently.

Early stopping (documented choice): **per member, on its out-of-bag rows**. With the Poisson
bootstrap (the default), member ``k`` never sees the ~37% of rows whose weight is 0; those
rows are its held-out split, so no label is taken away from the ensemble as a whole. Without
bootstrap, one shared random split (``val_fraction``) is held out from every member. After each
epoch every member's validation MSE is computed on (at most ``max_val_rows`` of) its held-out
rows; a member's best weights are kept, and training stops when every member has gone
``patience`` epochs without improving (or at ``epochs`` / ``max_steps``). Each member then gets
its best weights back.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["TrainConfig", "member_weights", "resolve_device", "row_keys", "torch_threads", "train_members"]


def resolve_device(setting: str = "auto") -> torch.device:
    """The device a surrogate setting names: ``"auto"`` is a CUDA device this process sees, else
    the CPU. The same rule as the learner's (``proposers.devices``; the two packages do not import
    each other). A Ray fit task decides ``auto`` from the GPUs Ray assigned it (``remote``): Ray
    2.60 does not hide the GPUs from a task that declared none.

    Raises:
        ValueError: an unknown device name, or CUDA named where this process sees none.
    """
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(setting)
    except RuntimeError as err:
        raise ValueError(f"unknown surrogate device {setting!r}: use 'auto', 'cpu' or 'cuda[:N]'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"surrogate device {setting!r} asked for, but this process sees no CUDA device")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"surrogate device {setting!r} asked for, but this process sees "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    return device


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the previous number.

    On a machine shared with other busy processes, two threads that wait for each other at
    every operation can be 20-40x slower than one (measured here: a GNN step took 0.5-2 s
    with 2 threads under load 15, 0.05 s with 1). ``None`` leaves the setting alone.
    """
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class TrainConfig:
    """How an ensemble is fitted.

    Attributes:
        epochs: Maximum passes over the data.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Rows per minibatch.
        bootstrap: Poisson(1) bootstrap weights per member (early stopping then uses each
            member's out-of-bag rows).
        patience: Epochs without improvement of a member's validation MSE before it is
            done; ``None`` or 0 disables early stopping (train all ``epochs``).
        val_fraction: Share of rows held out from every member when ``bootstrap`` is False.
        max_val_rows: Rows on which validation is evaluated (a fixed random subset).
        max_steps: Cap on optimizer steps (``None``: no cap); bounds the refit time.
        seed: Seed of the bootstrap weights, the split and the shuffling.
    """

    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    bootstrap: bool = True
    patience: int | None = 10
    val_fraction: float = 0.1
    max_val_rows: int = 2048
    max_steps: int | None = None
    seed: int = 0


def adamw(net: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused where the build supports it (about 10x faster per step on CPU)."""
    try:
        return torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - depends on the torch build
        return torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)


def row_keys(designs: Sequence[str]) -> list[int]:
    """Stable integer keys of designs (CRC-32, the same in every process) for ``train_members``."""
    return [zlib.crc32(d.encode()) for d in designs]


_POISSON_CDF = np.cumsum([math.exp(-1) / math.factorial(j) for j in range(20)])


def _keyed_poisson(keys: Sequence[int], K: int) -> np.ndarray:
    """Poisson(1) draws `K x n`, column `i` a function of `keys[i]` alone."""
    if not len(keys):
        return np.zeros((K, 0))
    u = np.stack([np.random.default_rng([0x5C1, int(k)]).random(K) for k in keys], axis=1)
    return np.searchsorted(_POISSON_CDF, u).astype(float)


def _weights_and_validation(n: int, K: int, cfg: TrainConfig, dtype: torch.dtype, g: torch.Generator,
                            keys: Sequence[int] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Training weights `K x n`, validation rows `v`, validation mask `K x v`.

    With `keys` (one per row, see ``row_keys``) each row's bootstrap weights depend on its key
    alone (not on ``cfg.seed``, which a campaign changes every round), so a row out of a
    member's bag stays out of it in every later fit: what a warm-started member is validated
    and calibrated on, it never saw.
    """
    if cfg.bootstrap and keys is not None:
        if len(keys) != n:
            raise ValueError(f"{len(keys)} row keys for {n} rows")
        w = torch.as_tensor(_keyed_poisson(keys, K), dtype=dtype)
        val_rows = torch.randperm(n, generator=g)[: cfg.max_val_rows]
        mask = w[:, val_rows] == 0
    elif cfg.bootstrap:
        w = torch.poisson(torch.ones(K, n, dtype=dtype), generator=g)
        val_rows = torch.randperm(n, generator=g)[: cfg.max_val_rows]
        mask = w[:, val_rows] == 0
    else:
        w = torch.ones(K, n, dtype=dtype)
        n_val = int(cfg.val_fraction * n) if cfg.patience else 0
        val_rows = torch.randperm(n, generator=g)[: min(n_val, cfg.max_val_rows, n - 1)]
        w[:, val_rows] = 0.0
        mask = torch.ones(K, val_rows.numel(), dtype=torch.bool)
    if not cfg.patience:
        val_rows, mask = val_rows[:0], mask[:, :0]
    return w, val_rows, mask


def member_weights(n: int, members: int, config: TrainConfig,
                   dtype: torch.dtype = torch.float64, keys: Sequence[int] | None = None) -> Tensor:
    """The training weights `K x n` that ``train_members`` uses with ``config`` (same seed).

    Zero entries are the rows member ``k`` never saw (its out-of-bag rows with the bootstrap,
    the shared held-out split without it); the recalibration of the ensemble's spread is
    fitted on them after training.

    Args:
        n: Number of training rows.
        members: Ensemble size ``K``.
        config: The training settings passed to ``train_members``.
        dtype: dtype of the weights.
        keys: the rows' keys, as given to ``train_members``.
    """
    g = torch.Generator().manual_seed(int(config.seed) + 1)
    return _weights_and_validation(n, members, config, dtype, g, keys)[0]


class _BestMembers:
    """Keeps each member's best weights (by validation MSE) and restores them."""

    def __init__(self, net: nn.Module, mask: Tensor) -> None:
        self.net, self.mask = net, mask
        K = mask.shape[0]
        self.has_val = mask.any(-1).cpu()  # members without held-out rows never stop early (kept on the CPU)
        self.best = torch.full((K,), torch.inf, dtype=torch.float64)
        self.best_epoch = torch.zeros(K, dtype=torch.long)
        self.stale = torch.zeros(K, dtype=torch.long)
        self.saved = {name: net.member_view(name, p).detach().clone()
                      for name, p in net.named_parameters()}

    def update(self, val_mse: Tensor, epoch: int) -> None:
        val_mse = val_mse.cpu()
        improved = (val_mse < self.best) | ~self.has_val
        self.best = torch.where(improved, val_mse, self.best)
        self.best_epoch[improved] = epoch
        self.stale = torch.where(improved, 0, self.stale + 1)
        if improved.any():
            for name, p in self.net.named_parameters():
                on = improved.to(p.device)
                self.saved[name][on] = self.net.member_view(name, p).detach()[on]

    def done(self, patience: int) -> bool:
        return bool(self.has_val.any()) and bool((self.stale[self.has_val] >= patience).all())

    @torch.no_grad()
    def restore(self) -> None:
        for name, p in self.net.named_parameters():
            self.net.member_view(name, p).copy_(self.saved[name])


def train_members(
    net: nn.Module,
    forward_rows: Callable[[Tensor], Tensor],
    y: Tensor,
    config: TrainConfig | None = None,
    keys: Sequence[int] | None = None,
) -> dict[str, float]:
    """Fit all members at once by weighted MSE (AdamW), with per-member early stopping, on the
    device of ``y`` (the net's and the rows' too; the draws stay on a CPU generator).

    Member ``k`` sees training row ``i`` with weight ``w[k, i]`` (Poisson(1) bootstrap, or 1,
    or 0 for held-out rows). Each epoch shuffles the rows once, the same way for all members;
    a minibatch's loss is ``sum_k sum_i w[k, i] (f_k(x_i) - y_i)^2 / sum_i w[k, i]``.

    Args:
        net: The ensemble (in place); has ``members`` and ``member_view(name, param)``.
        forward_rows: Maps `b` row indices (int64) to `K x b` member predictions.
        y: `n` (standardised) targets.
        config: Training settings (defaults if None).
        keys: one stable key per row (``row_keys``): bootstrap weights fixed per row across
            fits, for warm starts (None: drawn afresh from ``config.seed``).

    Returns:
        ``train_loss`` (weighted MSE, mean over members), ``train_rmse`` (of the ensemble
        mean over all rows), ``val_mse`` (mean over members of their best held-out MSE; NaN
        without validation), ``epochs`` (run), ``best_epoch`` (mean over members),
        ``steps``, ``fit_seconds`` (wall), ``fit_cpu_seconds`` (this process, all threads).
    """
    cfg = config or TrainConfig()
    start, start_cpu = time.perf_counter(), time.process_time()
    y = y.reshape(-1)
    n, K = y.numel(), int(net.members)
    g = torch.Generator().manual_seed(int(cfg.seed) + 1)  # first draw: see member_weights
    w, val_rows, mask = _weights_and_validation(n, K, cfg, y.dtype, g, keys)
    w, val_rows, mask = w.to(y.device), val_rows.to(y.device), mask.to(y.device)
    best = _BestMembers(net, mask) if val_rows.numel() else None
    opt = adamw(net, cfg.lr, cfg.weight_decay)
    batch_size = max(1, min(int(cfg.batch_size), n))
    max_steps = cfg.max_steps if cfg.max_steps is not None else float("inf")
    steps = epochs = 0
    while epochs < cfg.epochs and steps < max_steps:
        net.train()
        perm = torch.randperm(n, generator=g).to(y.device)
        for lo in range(0, n, batch_size):
            idx = perm[lo:lo + batch_size]
            wb = w[:, idx]
            err = (forward_rows(idx) - y[idx]) ** 2
            loss = ((wb * err).sum(-1) / wb.sum(-1).clamp_min(1e-8)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            if steps >= max_steps:
                break
        epochs += 1
        if best is not None:
            net.eval()
            with torch.no_grad():
                err = (forward_rows(val_rows).to(torch.float64) - y[val_rows]) ** 2
            val = (err * mask).sum(-1) / mask.sum(-1).clamp_min(1)
            best.update(val, epochs)
            if best.done(int(cfg.patience)):
                break
    if best is not None:
        best.restore()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([forward_rows(torch.arange(lo, min(lo + 4096, n), device=y.device))
                          for lo in range(0, n, 4096)], dim=-1).to(y.dtype)
        per_member = (w * (pred - y) ** 2).sum(-1) / w.sum(-1).clamp_min(1e-8)
        rmse = (pred.mean(0) - y).pow(2).mean().sqrt()
    has_val = best is not None and bool(best.has_val.any())
    return {
        "train_loss": float(per_member.mean()),
        "train_rmse": float(rmse),
        "val_mse": float(best.best[best.has_val].mean()) if has_val else float("nan"),
        "epochs": float(epochs),
        "best_epoch": float(best.best_epoch.double().mean()) if best is not None else float(epochs),
        "steps": float(steps),
        "fit_seconds": time.perf_counter() - start,
        "fit_cpu_seconds": time.process_time() - start_cpu,
    }
