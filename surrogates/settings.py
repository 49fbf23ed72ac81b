"""The surrogate package's settings: one model per component, light to import (no torch).

`AcquisitionConfig` is the one acquisition settings model: the campaign config nests it as
`acquisition:` and `make_log_reward` reads it. `EnsembleConfig` holds the surrogate's
hyper-parameters (`ensemble.EnsembleSurrogate`, `gp.TanimotoGPSurrogate`, or a plugin). Names are
checked against the registries (`acquisition.ACQUISITIONS`, `members.MEMBERS`) when a config is
validated; the registries themselves are imported only then.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class AcquisitionConfig(BaseModel):
    """The acquisition (BoTorch) and how it becomes the GFlowNet's log-reward.

    Attributes:
        name: A registered acquisition (``acquisition.ACQUISITIONS``) or ``module:Class``.
        beta: UCB exploration weight (BoTorch's meaning: ``mean + sqrt(beta pi / 2) E|dev|``).
        temperature: ``log R = reward_value / temperature`` (the GFlowNet's sharpness; not
            ``beta``, and never an exponent applied to UCB itself).
        reward: ``"acquisition"`` (the scaled acquisition value) or ``"rank"`` (minus the log
            of the candidate's rank among the training designs' acquisition values).
        pi_tau: Sigmoid temperature of ``pi`` in units of the training labels' std (BoTorch's
            default 1e-3 in raw units makes PI a step function: the fraction of members above
            the incumbent).
        ei_tau: ``tau_relu`` of ``logei``/``lognei`` in units of the training labels' std.
            With a finite ensemble, a design where no member beats the incumbent has
            improvement zero in every sample; LogEI's smoothed ``log(fatplus)`` then gives
            ``log EI ~ log(tau) - 2 log(gap / tau)``. BoTorch's default (1e-6 in raw units)
            puts all such designs near -48, i.e. on the reward floor; 0.01 std keeps them
            around -15 with the same ordering.
        mc_samples: Quasi-Monte Carlo samples per design on a non-ensemble (GP) posterior.
        seed: Seed of the Thompson member draw (None: drawn from torch's global generator),
            and of the quasi-Monte Carlo samples on a non-ensemble (GP) posterior (None: 0).
            Set per round by the campaign (from its own `seed`), so never written to a config.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field("ucb", description=(
        "the acquisition: ucb, logei, lognei, pi, mean, thompson (surrogates/acquisition.py) or 'module:Class'"))
    beta: float = Field(1.0, ge=0, description="UCB exploration weight (BoTorch's beta)")
    temperature: float = Field(0.2, gt=0, description="log R = acquisition / temperature")
    reward: Literal["acquisition", "rank"] = "acquisition"
    pi_tau: float = Field(0.1, gt=0, description="pi: sigmoid temperature in units of the labels' std")
    ei_tau: float = Field(0.01, gt=0, description="logei, lognei: tau_relu in units of the labels' std")
    mc_samples: int = Field(128, ge=1, description="quasi-Monte Carlo samples per design on a GP posterior")
    seed: int | None = Field(None, exclude=True, description="set per round by the campaign")

    @field_validator("name")
    @classmethod
    def _known_acquisition(cls, name: str) -> str:
        from .acquisition import check_acquisition

        return check_acquisition(name)


class EnsembleConfig(BaseModel):
    """Hyper-parameters of the surrogate (an ensemble, the Tanimoto GP, or a plugin).

    The campaign config's `surrogate:` section is this model plus the featurizer's and the fit
    task's placement settings (`pipeline.config.SurrogateConfig`). Defaults chosen by
    benchmarks/surrogates.py and surrogate_refit.py.

    Attributes:
        member: A registered surrogate kind (``members.MEMBERS``): ``"mlp"``
            (``VectorisedMLPEnsemble`` on fixed-width features, e.g. Morgan fingerprints),
            ``"gnn"`` (``GINEEnsemble``; needs a ``GraphFeaturizer``), ``"cnn"``
            (``CNNEnsemble``; needs a ``SequenceFeaturizer``), ``"gp"`` (a ``SingleTaskGP``
            with a Tanimoto kernel, ``gp.TanimotoGPSurrogate``, which ignores the network
            settings below); or ``module:Class``, built as ``Class(featurizer, config)``.
        members: Ensemble size ``s``.
        hidden: Width of every hidden layer.
        layers: Number of hidden layers.
        epochs: Passes over the training data.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Rows per minibatch.
        bootstrap: Poisson(1) bootstrap weights per member (else every member sees all rows
            equally and differs only by initialisation).
        dropout: Dropout after each hidden activation while training.
        seed: Seed of initialisation, bootstrap and shuffling (members get different draws).
        patience: Per-member early stopping: epochs without improvement of a member's MSE on
            its out-of-bag rows (its held-out split; a shared ``val_fraction`` split when
            ``bootstrap`` is False) before it stops; its best weights are restored. ``None``
            or 0: train all ``epochs``.
        val_fraction: Held-out share of rows when ``bootstrap`` is False.
        max_steps: Cap on optimizer steps (``None``: none); bounds the refit time on large
            label sets. The default 400 binds only above ~3,000 labels (batch 256); measured
            on 10,000 WEHI molecules (MolLogP, K=5, hidden 256, 2 layers, 1 thread): 7.6 CPU
            seconds and out-of-bag MSE 0.103 (standardised) against 32 s and 0.097 uncapped
            (43 epochs, early-stopped).
        num_threads: Torch intra-op threads while fitting (restored afterwards); ``None``
            leaves torch's setting alone. Use 1 on a machine shared with busy processes
            (e.g. Ray actors): oversubscribed threads can make a fit 20x slower.
        calibrate: Recalibrate the members' spread after each fit: ``sigma^2 = a s^2 + b``
            fitted on out-of-bag rows (``calibration``); ``posterior``, ``predict`` and the
            acquisitions then see the calibrated spread. Needs held-out rows (the bootstrap,
            or ``patience`` with a ``val_fraction`` split); without them the map is the
            identity.
        gp_max_labels: ``gp`` only: most labels the exact GP is fitted on (its cost grows as
            ``n^3``).
        gp_subsample: ``gp`` only: above ``gp_max_labels``, fit on that many labels (the best
            half and a seeded random draw from the rest) instead of raising ``ValueError``.
        warm_max_steps: Warm refits: ``fit(..., warm=True)`` starts from the previous fit's
            weights and takes at most this many steps; every fit then draws each design's
            bootstrap weights from the design itself (``training.row_keys``), so a member's
            out-of-bag rows stay unseen across refits; the GP starts from the previous
            hyper-parameters and takes at most this many L-BFGS iterations. ``None``: every fit
            starts afresh.
        device: Where the ensemble fits and predicts: ``"auto"`` (a CUDA device this process
            sees, else the CPU; in a Ray fit task, the GPU it declared, else the CPU), ``"cpu"``,
            ``"cuda[:N]"`` (``training.resolve_device``). Featurization, the acquisition and
            the checkpoint (``state_dict``) stay on the CPU; the GP ignores it (CPU).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    member: str = Field("mlp", description=(
        "mlp (fingerprints; refits 10k labels in < 10 s), gnn (GINE on graphs: ranks better, 10-30x "
        "slower), gp (Tanimoto-kernel GP on fingerprints, up to gp_max_labels), cnn (token sequences: "
        "not on molecules) (surrogates/members.py) or 'module:Class'"))
    members: int = Field(5, ge=2)
    hidden: int = Field(256, ge=8)
    layers: int = Field(2, ge=1)
    epochs: int = Field(200, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(256, ge=1)
    bootstrap: bool = Field(True, description="Poisson(1) bootstrap weights per member")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout after each hidden activation while training")
    seed: int = 0
    patience: int | None = Field(10, ge=0, description=(
        "early stopping: epochs without improvement on each member's out-of-bag rows (None or 0: off)"))
    val_fraction: float = Field(0.1, gt=0, lt=1, description="held-out share of rows when bootstrap is off")
    max_steps: int | None = Field(400, ge=1, description="cap on optimiser steps per fit (None: no cap)")
    num_threads: int | None = Field(None, ge=1, description="torch threads while fitting (None: torch's default)")
    calibrate: bool = Field(True, description="rescale the ensemble's spread on held-out rows after each fit")
    gp_max_labels: int = Field(3000, ge=10, description="gp: refuse more labels than this (cubic cost)")
    gp_subsample: bool = Field(False, description=(
        "gp: above gp_max_labels fit on the best half and a seeded random draw from the rest"))
    warm_max_steps: int | None = Field(None, ge=1, description=(
        "refit each round from the previous round's weights with at most this many steps (mlp, gnn, gp "
        "in the driver; None: a fresh fit every round). Small rounds need it: a fresh fit at 10k "
        "labels costs ~10 s"))
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description=(
        "where the ensemble fits and predicts: auto (a visible CUDA device, in a Ray fit task the GPU it "
        "holds; else the CPU), cpu, cuda[:N]"))

    @field_validator("member")
    @classmethod
    def _known_member(cls, name: str) -> str:
        from .members import check_member

        return check_member(name)

    @model_validator(mode="after")
    def _warm_needs_the_bootstrap(self) -> "EnsembleConfig":
        # without it, the held-out split is drawn afresh each round: a warm member would be
        # validated and calibrated on rows it trained on last round (a spread too small)
        if self.warm_max_steps is not None and not self.bootstrap:
            raise ValueError("warm_max_steps needs bootstrap (its out-of-bag rows stay unseen across "
                             "refits; a held-out split would be drawn afresh each round)")
        return self
