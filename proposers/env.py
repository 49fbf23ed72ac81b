"""The environment interface of the GFlowNet core: a discrete, graded DAG over states.

An environment describes the MDP only (states, masks, transitions, parents); it never holds
the reward, which changes every round and is passed to the trainer. Every method works on a
batch of states at once (tensor operations, no Python loop per state).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class DiscreteEnv(ABC):
    """A GFlowNet environment over integer state rows.

    Conventions (shared by the policies, objectives and the exact solver):

    - a state is a row of `state_dim` integers; a batch is an `n x state_dim` LongTensor;
    - actions are `0 .. n_actions - 1`; the last one, `stop`, ends the trajectory and
      makes the current state the terminal object `x`;
    - backward actions are the non-stop forward actions: backward action `a` of a state
      `s'` undoes forward action `a`, so `backward_mask(s')[a]` says whether some parent
      `s` reaches `s'` by `a` (a tree has exactly one True per non-initial state);
    - the DAG is graded: every non-stop action leads from level `k` to level `k + 1`,
      and every trajectory stops within `max_steps` transitions (stop included).

    Subclasses set `state_dim`, `n_actions`, `input_dim`, `max_steps` and implement the
    abstract methods below; that is all a new environment needs.
    """

    state_dim: int
    n_actions: int
    input_dim: int
    max_steps: int
    is_tree: bool = False
    """True when every state has one parent (append-only sequences): then a terminal state
    has one trajectory, `log p(x) = sum log P_F(tau)`, and a prior `p_prior(x)^w` is exact."""

    @property
    def stop(self) -> int:
        """Index of the stop action (the last action)."""
        return self.n_actions - 1

    @abstractmethod
    def initial(self, n: int) -> torch.Tensor:
        """`n` copies of the initial state: `n x state_dim` LongTensor."""

    @abstractmethod
    def forward_mask(self, states: torch.Tensor) -> torch.Tensor:
        """Allowed forward actions: `n x n_actions` bool (stop included)."""

    @abstractmethod
    def step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Next states after allowed non-stop `actions` (`n` LongTensor).

        Rows whose action is `stop` are returned unchanged.
        """

    @abstractmethod
    def backward_mask(self, states: torch.Tensor) -> torch.Tensor:
        """Backward actions available in `states`: `n x (n_actions - 1)` bool.

        All False for the initial state.
        """

    @abstractmethod
    def encode(self, states: torch.Tensor) -> torch.Tensor:
        """Policy input: `n x input_dim` float tensor."""

    @abstractmethod
    def to_designs(self, states: torch.Tensor) -> list[str]:
        """Terminal states as plain strings (the designs that cross package boundaries)."""

    def uniform_log_pb(self, states: torch.Tensor) -> torch.Tensor:
        """log of the uniform backward policy in `states`: `-log(#parents)` (`n` tensor)."""
        count = self.backward_mask(states).sum(-1).clamp(min=1)
        return -count.float().log()

    def backward_step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Parents reached by backward `actions` (`n`, allowed by `backward_mask`).

        Needed only for offline trajectories and pretraining (`trajectories.from_terminal`).
        """
        raise NotImplementedError(f"{type(self).__name__} has no backward_step")

    def from_designs(self, designs: list[str]) -> torch.Tensor:
        """States of design strings (inverse of `to_designs`): `k x state_dim`.

        Designs the environment cannot represent are dropped, so `k <= len(designs)`.
        Needed only for pretraining and offline designs.
        """
        raise NotImplementedError(f"{type(self).__name__} has no from_designs")
