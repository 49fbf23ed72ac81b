"""An MLP policy for any `DiscreteEnv`: forward logits, backward logits, state log-flow."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class PolicyOutput:
    """What the policy says about a batch of `n` states.

    Attributes:
        logits: `n x n_actions` forward logits (unmasked; also the soft-Q values).
        back_logits: `n x (n_actions - 1)` backward logits, or None (uniform P_B).
        log_flow: `n` log state flows `log F(s)` (used by DB and SubTB).
    """

    logits: torch.Tensor
    back_logits: torch.Tensor | None
    log_flow: torch.Tensor


def _mlp(in_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    dims = [in_dim] + [hidden] * layers
    mods: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        mods += [nn.Linear(a, b), nn.LeakyReLU()]
    return nn.Sequential(*mods, nn.Linear(dims[-1], out_dim))


class MLPPolicy(nn.Module):
    """One MLP trunk for P_F and log F, an optional second one for a learned P_B.

    Args:
        input_dim: width of `env.encode(states)`.
        n_actions: forward actions (stop included).
        hidden: hidden width.
        layers: hidden layers.
        learn_pb: learn P_B with its own MLP (else P_B is uniform over parents).
    """

    def __init__(
        self, input_dim: int, n_actions: int, hidden: int = 256, layers: int = 2,
        learn_pb: bool = False,
    ) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.forward_net = _mlp(input_dim, hidden, layers, n_actions + 1)
        self.backward_net = _mlp(input_dim, hidden, layers, n_actions - 1) if learn_pb else None

    def forward(self, x: torch.Tensor) -> PolicyOutput:
        """Policy output for encoded states `x` (`n x input_dim`)."""
        out = self.forward_net(x)
        back = self.backward_net(x) if self.backward_net is not None else None
        return PolicyOutput(out[:, : self.n_actions], back, out[:, self.n_actions])
