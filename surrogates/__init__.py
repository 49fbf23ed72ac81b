"""Surrogates: featurizers, ensembles (MLP, GNN, CNN) as BoTorch models with a recalibrated
spread, an optional Tanimoto GP, rewards, selection.

Designs arrive as canonical strings (SMILES, or token sequences for ``SequenceFeaturizer``).
This package never imports ``sciloop.pipeline``, ``sciloop.proposers`` or ``sciloop.oracles``.
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
from .calibration import VarianceMap
from .cnn import CNNEnsemble
from .ensemble import (
    MEMBER_KINDS,
    EnsembleConfig,
    EnsembleSurrogate,
    MLPEnsembleModel,
    make_surrogate,
)
from .featurizers import Featurizer, MorganFeaturizer, tanimoto_matrix
from .gnn import GINEEnsemble
from .gp import TanimotoGP, TanimotoGPSurrogate, TanimotoKernel
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
    "TanimotoGP",
    "TanimotoGPSurrogate",
    "TanimotoKernel",
    "TrainConfig",
    "VarianceMap",
    "VectorisedMLPEnsemble",
    "acquisition_values",
    "make_acquisition",
    "make_log_reward",
    "make_surrogate",
    "prospective_metrics",
    "select_batch",
    "select_batch_greedy_q",
    "tanimoto_matrix",
    "train_members",
]
