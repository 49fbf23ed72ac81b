"""Surrogates: featurizers, ensembles (MLP, GNN, CNN) as BoTorch models with a recalibrated
spread, an optional Tanimoto GP, rewards, selection.

Designs arrive as canonical strings (SMILES, or token sequences for ``SequenceFeaturizer``).
This package never imports ``sciloop.pipeline``, ``sciloop.proposers`` or ``sciloop.oracles``.

The names below load on first use (PEP 562): importing a light module such as
``sciloop.surrogates.settings`` (what the campaign config nests) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .acquisition import (
        ACQUISITIONS,
        ACQUISITION_NAMES,
        LOG_REWARD_FLOOR,
        Acquisition,
        EnsembleMemberSampler,
        acquisition_values,
        check_acquisition,
        make_acquisition,
        make_log_reward,
    )
    from .calibration import VarianceMap
    from .cnn import CNNEnsemble
    from .ensemble import EnsembleSurrogate, MLPEnsembleModel
    from .featurizers import Featurizer, MorganFeaturizer, tanimoto_matrix
    from .gnn import GINEEnsemble
    from .gp import TanimotoGP, TanimotoGPSurrogate, TanimotoKernel
    from .graphs import GraphFeaturizer
    from .members import MEMBERS, MEMBER_KINDS, Surrogate, check_member, make_surrogate
    from .metrics import prospective_metrics
    from .mlp import VectorisedMLPEnsemble
    from .selection import select_batch, select_batch_greedy_q
    from .sequences import SequenceFeaturizer
    from .settings import AcquisitionConfig, EnsembleConfig
    from .training import TrainConfig, train_members

#: submodule -> the public names it defines (loaded on first use)
_MODULES = {
    "acquisition": ("ACQUISITIONS", "ACQUISITION_NAMES", "LOG_REWARD_FLOOR", "Acquisition",
                    "EnsembleMemberSampler", "acquisition_values", "check_acquisition", "make_acquisition",
                    "make_log_reward"),
    "calibration": ("VarianceMap",),
    "cnn": ("CNNEnsemble",),
    "ensemble": ("EnsembleSurrogate", "MLPEnsembleModel"),
    "featurizers": ("Featurizer", "MorganFeaturizer", "tanimoto_matrix"),
    "gnn": ("GINEEnsemble",),
    "gp": ("TanimotoGP", "TanimotoGPSurrogate", "TanimotoKernel"),
    "graphs": ("GraphFeaturizer",),
    "members": ("MEMBERS", "MEMBER_KINDS", "Surrogate", "check_member", "make_surrogate"),
    "metrics": ("prospective_metrics",),
    "mlp": ("VectorisedMLPEnsemble",),
    "selection": ("select_batch", "select_batch_greedy_q"),
    "sequences": ("SequenceFeaturizer",),
    "settings": ("AcquisitionConfig", "EnsembleConfig"),
    "training": ("TrainConfig", "train_members"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "ACQUISITIONS",
    "ACQUISITION_NAMES",
    "Acquisition",
    "AcquisitionConfig",
    "CNNEnsemble",
    "EnsembleConfig",
    "EnsembleMemberSampler",
    "EnsembleSurrogate",
    "Featurizer",
    "GINEEnsemble",
    "GraphFeaturizer",
    "LOG_REWARD_FLOOR",
    "MEMBERS",
    "MEMBER_KINDS",
    "MLPEnsembleModel",
    "MorganFeaturizer",
    "SequenceFeaturizer",
    "Surrogate",
    "TanimotoGP",
    "TanimotoGPSurrogate",
    "TanimotoKernel",
    "TrainConfig",
    "VarianceMap",
    "VectorisedMLPEnsemble",
    "acquisition_values",
    "check_acquisition",
    "check_member",
    "make_acquisition",
    "make_log_reward",
    "make_surrogate",
    "prospective_metrics",
    "select_batch",
    "select_batch_greedy_q",
    "tanimoto_matrix",
    "train_members",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
