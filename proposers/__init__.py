"""Proposers: GFlowNets on Ray actors and simple baselines behind one `Proposer` interface.

Ray is imported only by `sciloop.proposers.actors` (pulled in by the GFlowNet proposer).
"""

from .base import LogRewardFn, ProgressFn, Proposer
from .gflownet import GFlowNetConfig, GFlowNetProposer
from .policy import SequencePolicy
from .screening import LibraryExhaustedError, ScreeningProposer
from .selfies_env import SelfiesEnv

__all__ = [
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
