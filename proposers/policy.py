"""An autoregressive forward policy P_F over token sequences (embedding + GRU)."""

from __future__ import annotations

import torch
from torch import nn


class SequencePolicy(nn.Module):
    """GRU policy over the actions of a sequence environment.

    A GRU rather than a Transformer: sampling carries an `O(hidden)` state per step, with
    no key/value cache, which is the fastest option on a few CPU cores.

    Args:
        masks: `(max_len + 1) x V` bool tensor, allowed actions at each step
            (e.g. `SelfiesEnv.action_masks()`); the last row must allow only `eos`.
        eos: id of the stop action.
        hidden: embedding and GRU width.
        num_layers: GRU layers.
    """

    def __init__(self, masks: torch.Tensor, eos: int, hidden: int = 256, num_layers: int = 2):
        super().__init__()
        self.register_buffer("masks", masks.clone().bool(), persistent=False)
        self.eos = eos
        self.vocab_size = masks.shape[1]
        self.max_len = masks.shape[0] - 1
        self.bos = self.vocab_size  # extra input-only token
        self.embed = nn.Embedding(self.vocab_size + 1, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden, self.vocab_size)

    def _masked_logits(self, out: torch.Tensor, step: int | slice) -> torch.Tensor:
        logits = self.head(out)
        return logits.masked_fill(~self.masks[step], float("-inf"))

    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        """Summed log P_F of whole trajectories, the stop action included.

        One teacher-forced forward pass. Tokens after the first EOS are ignored; a sequence
        of `max_len` tokens ends with the forced EOS (log-probability 0).

        Args:
            tokens: `n x L` LongTensor padded with EOS, `L <= max_len`.

        Returns:
            `n` tensor of log-probabilities (differentiable).
        """
        n, length = tokens.shape
        if length > self.max_len:
            raise ValueError(f"sequences of length {length} exceed max_len={self.max_len}")
        actions = torch.full((n, self.max_len + 1), self.eos, dtype=torch.long,
                             device=tokens.device)
        actions[:, :length] = tokens
        bos = torch.full((n, 1), self.bos, dtype=torch.long, device=tokens.device)
        inputs = torch.cat([bos, actions[:, :-1]], dim=1)
        out, _ = self.gru(self.embed(inputs))
        logp = torch.log_softmax(self._masked_logits(out, slice(None)), dim=-1)
        step_logp = logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        # a step counts if no EOS came before it
        is_eos = (actions == self.eos).long()
        before = torch.cumsum(is_eos, dim=1) - is_eos
        step_logp = step_logp.masked_fill(before > 0, 0.0)
        return step_logp.sum(dim=1)

    @torch.no_grad()
    def rollout(
        self,
        n: int,
        generator: torch.Generator | None = None,
        epsilon: float = 0.0,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples `n` trajectories, vectorised over the batch (a loop over steps only).

        Actions are drawn from `(1 - epsilon) * softmax(logits / temperature)` mixed with
        `epsilon` times the uniform distribution over allowed actions.

        Args:
            n: number of trajectories.
            generator: torch RNG (CPU) for reproducible draws.
            epsilon: uniform-exploration weight in [0, 1].
            temperature: softmax temperature of the policy part.

        Returns:
            `(tokens, log_pf)`: an `n x max_len` LongTensor padded with EOS, and the `n`
            summed log P_F of each trajectory under the *untempered* policy (epsilon=0,
            temperature=1), as `log_prob` would compute it.
        """
        device = self.head.weight.device
        tokens = torch.full((n, self.max_len + 1), self.eos, dtype=torch.long, device=device)
        log_pf = torch.zeros(n, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        x = torch.full((n, 1), self.bos, dtype=torch.long, device=device)
        h = None
        for t in range(self.max_len + 1):
            out, h = self.gru(self.embed(x), h)
            logits = self._masked_logits(out[:, 0], t)
            logp = torch.log_softmax(logits, dim=-1)
            probs = torch.softmax(logits / temperature, dim=-1) if temperature != 1.0 else logp.exp()
            if epsilon > 0.0:
                allowed = self.masks[t].float()
                probs = (1.0 - epsilon) * probs + epsilon * allowed / allowed.sum()
            a = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            a = a.masked_fill(done, self.eos)
            tokens[:, t] = a
            log_pf += logp.gather(1, a.unsqueeze(1)).squeeze(1).masked_fill(done, 0.0)
            done |= a == self.eos
            if bool(done.all()):
                break
            x = a.unsqueeze(1)
        return tokens[:, : self.max_len], log_pf

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        epsilon: float = 0.0,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Samples `n` sequences: an `n x max_len` LongTensor padded with EOS."""
        return self.rollout(n, generator, epsilon=epsilon, temperature=temperature)[0]
