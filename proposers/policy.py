"""An autoregressive (GRU) policy for the core's sequence environments (`SequenceEnv`).

A GRU rather than a Transformer: sampling carries an `O(hidden)` state per step, with no
key/value cache, which is the fastest option on a few CPU cores. The policy has two faces:

- `forward(env.encode(states))`, like `MLPPolicy`: re-reads each prefix (`O(max_len)` per
  state); used where states come without their history (`exact.terminal_distribution`,
  `log_partition`);
- the recurrent fast path (`recurrent = True`): `step` carries the hidden state while
  sampling and `along` scores whole trajectories in one teacher-forced pass, so neither
  sampling nor training re-reads a prefix. On a tree MDP the action history *is* the state,
  so both faces give the same outputs (tested).
"""

from __future__ import annotations

import torch
from torch import nn

from .mlp_policy import PolicyOutput
from .sequence_env import SequenceEnv


class SequencePolicy(nn.Module):
    """GRU over token prefixes: forward logits (append a token or stop) and `log F(s)`.

    Token ids follow `SequenceEnv`: `0 .. V-1` append, `V` is both the stop action and the
    padding of states; an extra input-only id `V + 1` starts every sequence (BOS). P_B is
    1 on a tree, so there are no backward logits.

    Args:
        vocab: alphabet size `V` (`env.n_actions - 1`).
        max_len: longest sequence (`env.max_len`).
        hidden: embedding and GRU width.
        num_layers: GRU layers.

    >>> policy = SequencePolicy.for_env(SequenceEnv("01", max_len=8), hidden=32)
    """

    recurrent = True

    def __init__(self, vocab: int, max_len: int, hidden: int = 256, num_layers: int = 2) -> None:
        super().__init__()
        self.vocab, self.max_len = vocab, max_len
        self.n_actions = vocab + 1
        self.bos = vocab + 1
        self.embed = nn.Embedding(vocab + 2, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=num_layers)
        self.head = nn.Linear(hidden, self.n_actions + 1)  # logits, then log F(s)

    @classmethod
    def for_env(cls, env: SequenceEnv, hidden: int = 256, num_layers: int = 2) -> SequencePolicy:
        """A policy sized for `env`."""
        return cls(env.n_actions - 1, env.max_len, hidden, num_layers)

    def _output(self, h: torch.Tensor) -> PolicyOutput:
        out = self.head(h)
        return PolicyOutput(out[..., : self.n_actions], None, out[..., self.n_actions])

    def forward(self, x: torch.Tensor) -> PolicyOutput:
        """Outputs for one-hot encoded states `x` (`n x (max_len * (V + 1))`, `env.encode`)."""
        tokens = x.view(len(x), self.max_len, self.vocab + 1).argmax(-1)
        lengths = (tokens != self.vocab).sum(-1)
        bos = tokens.new_full((len(x), 1), self.bos)
        out, _ = self.gru(self.embed(torch.cat([bos, tokens], 1)).transpose(0, 1))
        return self._output(out[lengths, torch.arange(len(x), device=x.device)])

    def initial_hidden(self, n: int) -> torch.Tensor:
        """The recurrent state of `n` empty prefixes: `layers x n x hidden`."""
        weight = self.head.weight
        return weight.new_zeros(self.gru.num_layers, n, self.gru.hidden_size)

    def step(self, prev: torch.Tensor | None, hidden: torch.Tensor
             ) -> tuple[PolicyOutput, torch.Tensor]:
        """Reads the last action (`n`; None at `s_0`) and gives the outputs of the new state.

        Returns:
            `(output, hidden)`: the policy output (`n` rows) and the next recurrent state.
        """
        n = hidden.shape[1]
        ids = torch.full((n,), self.bos, dtype=torch.long) if prev is None else prev
        ids = ids.to(hidden.device)
        out, hidden = self.gru(self.embed(ids).unsqueeze(0), hidden)
        return self._output(out[0]), hidden

    def along(self, actions: torch.Tensor) -> PolicyOutput:
        """Outputs at every state `s_0 .. s_T` of trajectories given by their actions.

        Args:
            actions: `T x n` actions (`-1` after the stop, as in `Trajectories`).

        Returns:
            A `PolicyOutput` whose tensors lead with `(T + 1) x n`.
        """
        ids = actions.clamp(min=0)  # -1 (after the stop) reads as pad; those outputs are unused
        bos = ids.new_full((1, ids.shape[1]), self.bos)
        out, _ = self.gru(self.embed(torch.cat([bos, ids])))
        return self._output(out)
