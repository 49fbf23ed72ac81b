"""Surrogates: featurizers, ensembles (MLP, GNN, CNN) as BoTorch models, rewards, selection.

Designs arrive as canonical strings (SMILES, or token sequences for ``SequenceFeaturizer``). This package never imports ``sciloop.pipeline``,
``sciloop.proposers`` or ``sciloop.oracles``.
"""

from .acquisition import (
    ACQUISITION_NAMES,
    LOG_REWARD_FLOOR,
    AcquisitionConfig,
    EnsembleMemberSampler,
    acquisition_values,
    make_acquisition,
    make_log_reward,
)
from .cnn import CNNEnsemble
from .ensemble import MEMBER_KINDS, EnsembleConfig, EnsembleSurrogate, MLPEnsembleModel
from .featurizers import Featurizer, MorganFeaturizer, tanimoto_matrix
from .gnn import GINEEnsemble
from .graphs import GraphFeaturizer
from .metrics import prospective_metrics
from .mlp import VectorisedMLPEnsemble
from .selection import select_batch, select_batch_greedy_q
from .sequences import SequenceFeaturizer
from .training import TrainConfig, train_members

__all__ = [
    "ACQUISITION_NAMES",
    "LOG_REWARD_FLOOR",
    "MEMBER_KINDS",
    "AcquisitionConfig",
    "CNNEnsemble",
    "EnsembleConfig",
    "EnsembleMemberSampler",
    "EnsembleSurrogate",
    "Featurizer",
    "GINEEnsemble",
    "GraphFeaturizer",
    "MLPEnsembleModel",
    "MorganFeaturizer",
    "SequenceFeaturizer",
    "TrainConfig",
    "VectorisedMLPEnsemble",
    "acquisition_values",
    "make_acquisition",
    "make_log_reward",
    "prospective_metrics",
    "select_batch",
    "select_batch_greedy_q",
    "tanimoto_matrix",
    "train_members",
]
