"""Surrogates: featurizers, the MLP ensemble as a BoTorch model, acquisition rewards, selection.

Designs arrive as canonical SMILES strings. This package never imports ``sciloop.pipeline``,
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
from .ensemble import EnsembleConfig, EnsembleSurrogate, MLPEnsembleModel
from .featurizers import Featurizer, MorganFeaturizer, tanimoto_matrix
from .metrics import prospective_metrics
from .mlp import VectorisedMLPEnsemble
from .selection import select_batch, select_batch_greedy_q

__all__ = [
    "ACQUISITION_NAMES",
    "LOG_REWARD_FLOOR",
    "AcquisitionConfig",
    "EnsembleConfig",
    "EnsembleMemberSampler",
    "EnsembleSurrogate",
    "Featurizer",
    "MLPEnsembleModel",
    "MorganFeaturizer",
    "VectorisedMLPEnsemble",
    "acquisition_values",
    "make_acquisition",
    "make_log_reward",
    "prospective_metrics",
    "select_batch",
    "select_batch_greedy_q",
    "tanimoto_matrix",
]
