"""Proposers: GFlowNets on Ray actors and simple baselines behind one `Proposer` interface.

The GFlowNet core (any `DiscreteEnv`, objectives TB/DB/SubTB/soft-DQN, exact checks) is
`trainer.GFlowNetTrainer`; see README.md in this folder for adding an environment.

The campaign's molecule proposer (`gflownet.GFlowNetProposer`) is that core on SELFIES with a
GRU policy (`policy.SequencePolicy`). Ray is imported only by `sciloop.proposers.actors`.

The names below load on first use (PEP 562): a sequence campaign never imports rdkit or selfies
(`selfies_env`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import LogRewardFn, ProgressFn, Proposer
    from .env import DiscreteEnv
    from .gflownet import GFlowNetConfig, GFlowNetProposer
    from .hypergrid import HypergridEnv, HypergridReward
    from .policy import SequencePolicy
    from .screening import ScreeningProposer
    from .selfies_env import SelfiesEnv
    from .sequence_env import SequenceEnv
    from .trainer import CoreConfig, GFlowNetTrainer

#: submodule -> the public names it defines (loaded on first use)
_MODULES = {
    "base": ("LogRewardFn", "ProgressFn", "Proposer"),
    "env": ("DiscreteEnv",),
    "gflownet": ("GFlowNetConfig", "GFlowNetProposer"),
    "hypergrid": ("HypergridEnv", "HypergridReward"),
    "policy": ("SequencePolicy",),
    "screening": ("ScreeningProposer",),
    "selfies_env": ("SelfiesEnv",),
    "sequence_env": ("SequenceEnv",),
    "trainer": ("CoreConfig", "GFlowNetTrainer"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "CoreConfig",
    "DiscreteEnv",
    "GFlowNetConfig",
    "GFlowNetProposer",
    "GFlowNetTrainer",
    "HypergridEnv",
    "HypergridReward",
    "LogRewardFn",
    "ProgressFn",
    "Proposer",
    "ScreeningProposer",
    "SelfiesEnv",
    "SequenceEnv",
    "SequencePolicy",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
