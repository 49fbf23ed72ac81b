"""Soft Q-learning / Munchausen-DQN as a GFlowNet objective (Tiapkin et al. 2023)."""

from __future__ import annotations

import torch

from .objective import Averaging
from .trajectories import Scored


class SoftDQN:
    """Entropy-regularised RL whose optimal policy is the GFlowNet's forward policy.

    MDP: rewards `r = log P_B(s|s')` on inner transitions and `log R(x)` on the stop,
    discount 1. The network's logits `l(s, .)` are the policy (`P_F = softmax(l)`) and
    `Q = tau l`, `V(s) = tau logsumexp_a l(s, a)`. Munchausen-DQN with weight `alpha`
    regresses `Q(s,a)` onto `r + alpha tau max(log pi_bar(a|s), clip) + V_bar(s')` (bars: the
    target network, `V_bar(s_f) = 0`). Its fixed point is the entropy-regularised optimum
    with coefficient `(1 - alpha) tau`; the choice `tau = 1 / (1 - alpha)` makes that 1,
    i.e. the soft-Q fixed point `l(s, a) = r + logsumexp l(s', .)`, whose softmax is the
    GFlowNet policy and `V(s_0) = log Z`. Divided by `tau`, the loss per transition is

    `(l(s,a) - [r / tau + alpha max(log pi_bar(a|s), clip) + logsumexp l_bar(s', .)])^2`.

    `alpha = 0` is plain soft DQN (`tau = 1`). P_B must be fixed (uniform), not learned.

    Args:
        alpha: Munchausen weight in [0, 1).
        clip: lower clip of the Munchausen log-policy term (default only guards -inf:
            the usual -1 would move the fixed point).
    """

    uses_log_z = False
    uses_target = True
    averages_over: Averaging = "transitions"

    def __init__(self, alpha: float = 0.0, clip: float = -100.0) -> None:
        if not 0 <= alpha < 1:
            raise ValueError("alpha must be in [0, 1)")
        self.alpha, self.clip = alpha, clip
        self.tau = 1.0 / (1.0 - alpha)

    def loss(self, s: Scored, log_reward: torch.Tensor, log_z: torch.Tensor,
             target: Scored | None = None) -> torch.Tensor:
        bar = target if target is not None else s
        reward = torch.where(s.is_stop, log_reward.float().expand_as(s.q), s.log_pb.detach())
        y = reward / self.tau + bar.v_next.detach()
        if self.alpha > 0:
            y = y + self.alpha * bar.log_pf.detach().clamp(min=self.clip)
        return (s.q - y)[s.valid].pow(2).mean()

    def log_partition(self, logits0: torch.Tensor, log_flow0: torch.Tensor,
                      log_z: torch.Tensor) -> torch.Tensor:
        return self.tau * logits0.logsumexp(-1)
