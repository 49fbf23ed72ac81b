"""Proposers: GFlowNets on Ray actors and simple baselines behind one `Proposer` interface.

The GFlowNet core (any `DiscreteEnv`, objectives TB/DB/SubTB/soft-DQN, exact checks) is
`trainer.GFlowNetTrainer`; see README.md in this folder for adding an environment.

The campaign's molecule proposer (`gflownet.GFlowNetProposer`) is that core on SELFIES with a
GRU policy (`policy.SequencePolicy`). Ray is imported only by `sciloop.proposers.actors`.
"""

from .base import LogRewardFn, ProgressFn, Proposer
from .env import DiscreteEnv
from .gflownet import GFlowNetConfig, GFlowNetProposer
from .hypergrid import HypergridEnv, HypergridReward
from .policy import SequencePolicy
from .screening import LibraryExhaustedError, ScreeningProposer
from .selfies_env import SelfiesEnv
from .sequence_env import SequenceEnv
from .trainer import CoreConfig, GFlowNetTrainer

__all__ = [
    "CoreConfig",
    "DiscreteEnv",
    "GFlowNetTrainer",
    "HypergridEnv",
    "HypergridReward",
    "SequenceEnv",
    "GFlowNetConfig",
    "GFlowNetProposer",
    "LibraryExhaustedError",
    "LogRewardFn",
    "ProgressFn",
    "Proposer",
    "ScreeningProposer",
    "SelfiesEnv",
    "SequencePolicy",
]
