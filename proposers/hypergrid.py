"""The hypergrid environment (Bengio et al. 2021) and its standard reward.

States are points of `{0, .., H-1}^ndim`, starting at the origin; an action increments one
coordinate or stops. Every state can be terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .env import DiscreteEnv


class HypergridEnv(DiscreteEnv):
    """A `ndim`-dimensional grid of side `height`.

    Actions `0 .. ndim-1` increment that coordinate (allowed below `height - 1`); action
    `ndim` stops. The backward action `i` decrements coordinate `i` (allowed above 0).

    Args:
        ndim: number of dimensions.
        height: points per dimension (`H`).

    >>> env = HypergridEnv(ndim=2, height=8)
    >>> env.step(env.initial(1), torch.tensor([1]))
    tensor([[0, 1]])
    """

    def __init__(self, ndim: int = 2, height: int = 8) -> None:
        if ndim < 1 or height < 2:
            raise ValueError("need ndim >= 1 and height >= 2")
        self.ndim, self.height = ndim, height
        self.state_dim = ndim
        self.n_actions = ndim + 1
        self.input_dim = ndim * height
        self.max_steps = ndim * (height - 1) + 1

    def initial(self, n: int) -> torch.Tensor:
        return torch.zeros(n, self.ndim, dtype=torch.long)

    def forward_mask(self, states: torch.Tensor) -> torch.Tensor:
        stop = torch.ones(len(states), 1, dtype=torch.bool, device=states.device)
        return torch.cat([states < self.height - 1, stop], dim=1)

    def step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        move = actions < self.ndim
        delta = F.one_hot(actions.clamp(max=self.ndim - 1), self.ndim) * move.unsqueeze(1)
        return states + delta

    def backward_mask(self, states: torch.Tensor) -> torch.Tensor:
        return states > 0

    def backward_step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return states - F.one_hot(actions, self.ndim)

    def from_designs(self, designs: list[str]) -> torch.Tensor:
        """States of `"i,j,.."` strings; malformed and out-of-grid ones are dropped."""
        parts = [d.split(",") for d in designs]
        rows = [[int(v) for v in p] for p in parts if all(v.strip().isdigit() for v in p)]
        rows = [r for r in rows if len(r) == self.ndim and all(0 <= v < self.height for v in r)]
        return torch.tensor(rows, dtype=torch.long).reshape(-1, self.ndim)

    def encode(self, states: torch.Tensor) -> torch.Tensor:
        return F.one_hot(states, self.height).flatten(1).float()

    def to_designs(self, states: torch.Tensor) -> list[str]:
        return [",".join(map(str, row)) for row in states.tolist()]


@dataclass(frozen=True)
class HypergridReward:
    """The standard hypergrid reward, evaluated on a batch of states.

    `R(x) = R0 + R1 * prod_i [0.25 < |x_i/(H-1) - 0.5| <= 0.5]
    + R2 * prod_i [0.3 < |x_i/(H-1) - 0.5| < 0.4]`.

    Attributes:
        height: grid side `H`.
        r0: base reward everywhere (smaller: harder exploration).
        r1: bonus of the outer band.
        r2: bonus of the inner ring (the modes).
    """

    height: int
    r0: float = 0.1
    r1: float = 0.5
    r2: float = 2.0

    def __call__(self, states: torch.Tensor) -> torch.Tensor:
        """`log R(x)` for `n x ndim` states: an `n` float tensor."""
        ax = (states.double() / (self.height - 1) - 0.5).abs()
        band = ((ax > 0.25) & (ax <= 0.5)).all(-1).double()
        ring = ((ax > 0.3) & (ax < 0.4)).all(-1).double()
        return (self.r0 + self.r1 * band + self.r2 * ring).log().float()
