"""Named BoTorch acquisitions on the ensemble posterior, and the GFlowNet log-reward built on them.

Every acquisition is one of BoTorch's Monte Carlo acquisitions. On an ensemble posterior the
"samples" are the members' predictions, so instead of drawing member indices at random
(BoTorch's default ``IndexSampler``), ``EnsembleMemberSampler`` takes each member exactly once:
the Monte Carlo average is then the exact average over members and the values are
deterministic. Thompson sampling is the same sampler restricted to one member.

On a Gaussian posterior (the Tanimoto GP, ``gp.TanimotoGP``) the same names use BoTorch's
seeded quasi-Monte Carlo normal sampler (``mc_samples`` draws, fixed base samples, so values
are deterministic too).

Each name is an entry of ``ACQUISITIONS`` following ``Acquisition``: it builds the BoTorch
acquisition and owns its reward transform (acquisition values -> utility; ``log R = u /
temperature``). A new acquisition is one class plus one line in ``ACQUISITIONS``, or, without
touching sciloop, a ``module:Class`` import path named in config (``acquisition.name``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, cast

import torch
from botorch.acquisition import (
    AcquisitionFunction,
    qLogExpectedImprovement,
    qLogNoisyExpectedImprovement,
    qProbabilityOfImprovement,
    qSimpleRegret,
    qUpperConfidenceBound,
)
from botorch.models.model import Model
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.sampling.base import MCSampler
from botorch.sampling.normal import SobolQMCNormalSampler
from torch import Tensor

from .plugins import check_name, import_class
from .settings import AcquisitionConfig

__all__ = [
    "ACQUISITIONS",
    "ACQUISITION_NAMES",
    "LOG_REWARD_FLOOR",
    "Acquisition",
    "AcquisitionConfig",
    "AcquisitionEntry",
    "EnsembleMemberSampler",
    "acquisition_entry",
    "acquisition_values",
    "check_acquisition",
    "make_acquisition",
    "make_log_reward",
]

#: Log-reward of designs that do not featurize, and the lower clamp of every log-reward.
LOG_REWARD_FLOOR = -50.0
#: Feature elements (candidates x rows per candidate x d) evaluated at once.
_MAX_ELEMENTS = 2**25


class Acquisition(Protocol):
    """A named acquisition: builds the BoTorch acquisition AND owns its reward transform, so
    selection (the acquisition's values) and the GFlowNet's reward share one object.

    An entry is built as ``Entry(config)`` from the round's ``AcquisitionConfig``.
    """

    def build(self, model: Model, train_X: Tensor, train_y: Tensor) -> AcquisitionFunction:
        """The BoTorch acquisition on ``model``.

        Args:
            model: The fitted surrogate's BoTorch model (an ensemble or a GP).
            train_X: `n x d` features of the labelled designs.
            train_y: `n` labels in the dtype of ``train_X`` (original units, larger is better).

        Returns:
            An acquisition function taking `b x q x d` and returning `b`.
        """
        ...

    def utility(self, values: Tensor, train_y: Tensor) -> Tensor:
        """The reward transform: acquisition values `n` (float64) to a scale-free utility
        ``u``; ``log R = u / temperature`` (or ``-log rank(u)``, ``reward: rank``).

        Args:
            values: `n` acquisition values of designs scored alone (``q = 1``).
            train_y: `n_train` float64 labels (e.g. to standardise by their mean and std).
        """
        ...


class AcquisitionEntry:
    """Shared parts of the built-in entries (a plugin may subclass it): the config, and the
    Monte Carlo sampler every built-in acquisition uses (see ``sampler``)."""

    def __init__(self, config: AcquisitionConfig) -> None:
        self.config = config

    @property
    def seed(self) -> int:
        """The seed of quasi-Monte Carlo samples on a non-ensemble posterior (``config.seed``, or 0)."""
        return 0 if self.config.seed is None else int(self.config.seed)

    def sampler(self, model: Model, train_X: Tensor) -> MCSampler:
        """Each ensemble member once (``EnsembleMemberSampler``), or on a non-ensemble (GP)
        posterior ``SobolQMCNormalSampler`` with ``mc_samples`` seeded draws."""
        s = _members(model, train_X)
        if s is None:
            return SobolQMCNormalSampler(torch.Size([self.config.mc_samples]), seed=self.seed)
        return EnsembleMemberSampler(range(s))

    def utility(self, values: Tensor, train_y: Tensor) -> Tensor:
        """In units of ``y``: ``(values - mean(y)) / std(y)`` (the acquisition on standardised labels)."""
        return (values - float(train_y.mean())) / _std(train_y)


class UCB(AcquisitionEntry):
    """``qUpperConfidenceBound(beta)``; reward on standardised labels."""

    def build(self, model: Model, train_X: Tensor, train_y: Tensor) -> AcquisitionFunction:
        return qUpperConfidenceBound(model, beta=self.config.beta, sampler=self.sampler(model, train_X))


class LogEI(AcquisitionEntry):
    """``qLogExpectedImprovement`` with ``best_f = max(y)``, ``tau_relu = ei_tau * std(y)``;
    reward ``log EI - log std(y)`` (log-EI of standardised labels: a constant shift)."""

    def build(self, model: Model, train_X: Tensor, train_y: Tensor) -> AcquisitionFunction:
        return qLogExpectedImprovement(model, best_f=float(train_y.max()), sampler=self.sampler(model, train_X),
                                       tau_relu=self.config.ei_tau * _std(train_y))

    def utility(self, values: Tensor, train_y: Tensor) -> Tensor:
        return values - math.log(_std(train_y))


class LogNEI(LogEI):
    """``qLogNoisyExpectedImprovement`` with ``X_baseline = train_X``; reward as ``LogEI``."""

    def build(self, model: Model, train_X: Tensor, train_y: Tensor) -> AcquisitionFunction:
        # pruning the baseline draws from torch's global stream with a sampler of its own: seeded
        # here, or which baseline rows survive (and every value) would depend on unrelated draws
        with torch.random.fork_rng(devices=[]):  # the CPU stream only (no CUDA context on a GPU machine)
            torch.manual_seed(self.seed if self.seed is not None else 0)
            return qLogNoisyExpectedImprovement(model, X_baseline=train_X, sampler=self.sampler(model, train_X),
                                                prune_baseline=True, cache_root=False,
                                                tau_relu=self.config.ei_tau * _std(train_y))


class PI(AcquisitionEntry):
    """``qProbabilityOfImprovement`` (``best_f = max(y)``, ``tau = pi_tau * std(y)``); reward ``log PI``."""

    def build(self, model: Model, train_X: Tensor, train_y: Tensor) -> AcquisitionFunction:
        return qProbabilityOfImprovement(model, best_f=float(train_y.max()), sampler=self.sampler(model, train_X),
                                         tau=self.config.pi_tau * _std(train_y))

    def utility(self, values: Tensor, train_y: Tensor) -> Tensor:
        return torch.log(values.clamp_min(torch.finfo(torch.float64).tiny))


class Mean(AcquisitionEntry):
    """``qSimpleRegret``: the posterior mean for ``q = 1``; reward on standardised labels."""

    def build(self, model: Model, train_X: Tensor, train_y: Tensor) -> AcquisitionFunction:
        return qSimpleRegret(model, sampler=self.sampler(model, train_X))


class Thompson(AcquisitionEntry):
    """``qSimpleRegret`` on ONE member drawn at build (uniformly, with ``config.seed``), i.e. one
    draw per round, stored as ``acqf.thompson_member``. On a GP: one quasi-Monte Carlo draw
    shared by all designs scored alone (``mean + z std``, one ``z`` per round; a randomised UCB,
    not a joint function draw), ``thompson_member`` None. Reward on standardised labels."""

    def build(self, model: Model, train_X: Tensor, train_y: Tensor) -> AcquisitionFunction:
        s = _members(model, train_X)
        if s is None:
            acqf = qSimpleRegret(model, sampler=SobolQMCNormalSampler(torch.Size([1]), seed=self.seed))
            acqf.thompson_member = None
            return acqf
        g = torch.Generator().manual_seed(self.config.seed) if self.config.seed is not None else None
        member = int(torch.randint(s, (1,), generator=g))
        acqf = qSimpleRegret(model, sampler=EnsembleMemberSampler([member]))
        acqf.thompson_member = member
        return acqf


#: The registered acquisitions (config choices are derived from these). A new one is one class
#: following ``Acquisition`` plus one line here, or, without touching sciloop, ``module:Class``.
ACQUISITIONS: dict[str, Callable[[AcquisitionConfig], Acquisition]] = {
    "ucb": UCB,
    "logei": LogEI,
    "lognei": LogNEI,
    "pi": PI,
    "mean": Mean,
    "thompson": Thompson,
}
#: The registered names, in registry order.
ACQUISITION_NAMES = tuple(ACQUISITIONS)


def check_acquisition(name: str) -> str:
    """``name`` if it is registered or a ``module:Class`` path, else a ValueError listing the names."""
    return check_name(name, ACQUISITIONS, "acquisition")


def acquisition_entry(config: AcquisitionConfig) -> Acquisition:
    """The entry ``config.name`` names, built as ``Entry(config)``.

    Raises:
        ValueError: an unknown name (the message lists the registered ones), or a
            ``module:Class`` that cannot be imported.
    """
    name = check_acquisition(config.name)
    entry = ACQUISITIONS[name] if name in ACQUISITIONS else import_class(name, "acquisition")
    return entry(config)


class EnsembleMemberSampler(MCSampler):
    """Takes given ensemble members as the Monte Carlo samples of an ``EnsemblePosterior``.

    With all members (the default for ``make_acquisition``) the sample average equals the
    exact, uniformly weighted average over the ensemble.

    Example:
        >>> sampler = EnsembleMemberSampler(range(5))
        >>> sampler(model.posterior(X)).shape  # `5 x b x q x 1`
    """

    def __init__(self, members: Sequence[int] | Tensor) -> None:
        """Args:
            members: Member indices to use, one Monte Carlo sample each.
        """
        index = torch.as_tensor(list(members) if not isinstance(members, Tensor) else members,
                                dtype=torch.long).reshape(-1)
        super().__init__(sample_shape=torch.Size([index.numel()]))
        self.register_buffer("members", index)

    def forward(self, posterior: EnsemblePosterior) -> Tensor:
        """The chosen members' values: `s' x batch_shape x q x m`."""
        if not isinstance(posterior, EnsemblePosterior):
            raise TypeError(f"EnsembleMemberSampler needs an EnsemblePosterior, "
                            f"got {type(posterior).__name__}")
        if int(self.members.max()) >= posterior.ensemble_size:
            raise ValueError(f"member index {int(self.members.max())} out of range for an "
                             f"ensemble of {posterior.ensemble_size}")
        batch = posterior.batch_shape
        base = self.members.to(posterior.device).view(-1, *([1] * len(batch)))
        base = base.expand(self.sample_shape + batch)
        return posterior.rsample_from_base_samples(self.sample_shape, base)

    def _update_base_samples(self, posterior: EnsemblePosterior, base_sampler: MCSampler) -> None:
        """Nothing to update: the samples are fixed member indices."""


def _members(model: Model, X: Tensor) -> int | None:
    """The ensemble size ``s``, or None when the posterior is not an ensemble (a GP)."""
    members = getattr(model, "members", None)
    if members is None:
        with torch.no_grad():
            posterior = model.posterior(X[:1])
        if not isinstance(posterior, EnsemblePosterior):
            return None
        members = posterior.ensemble_size
    return int(members)


def make_acquisition(
    config: AcquisitionConfig,
    model: Model,
    train_X: Tensor,
    train_y: Tensor,
) -> AcquisitionFunction:
    """Build the named BoTorch acquisition (see the entries ``UCB`` .. ``Thompson``).

    On an ensemble model every member is one Monte Carlo sample; on a non-ensemble model (the
    Tanimoto GP) a ``SobolQMCNormalSampler`` of ``mc_samples`` seeded draws.

    Args:
        config: The acquisition's name and parameters.
        model: An ensemble model (e.g. ``EnsembleSurrogate.model``).
        train_X: `n x d` features of the labelled designs.
        train_y: `n` labels (original units, larger is better).

    Returns:
        A BoTorch acquisition function taking `b x q x d` and returning `b`.

    Raises:
        ValueError: For an unknown name (the message lists the valid ones).
    """
    train_y = torch.as_tensor(train_y, dtype=train_X.dtype).reshape(-1)
    return acquisition_entry(config).build(model, train_X, train_y)


def _std(y: Tensor) -> float:
    std = float(y.std()) if y.numel() > 1 else 1.0
    return std if std > 1e-12 else 1.0


def chunk_size(acqf: AcquisitionFunction, d: int, chunk: int = 1024) -> int:
    """Designs per acquisition call such that the rows evaluated jointly with each (baseline and
    pending rows; an exact GP's training rows, which GPyTorch joins to every design unless the
    model scores a lone design from its marginal, `marginal_q1`) stay within `_MAX_ELEMENTS`
    features in all."""
    extra = 0
    for name in ("X_baseline", "X_pending"):
        rows = getattr(acqf, name, None)
        extra += 0 if rows is None else rows.shape[-2]
    model = getattr(acqf, "model", None)
    train = getattr(model, "train_inputs", None)
    alone = extra == 0 and getattr(model, "marginal_q1", False)  # each design from its marginal (TanimotoGP)
    extra += train[0].shape[-2] if train and not alone else 0
    return max(1, min(chunk, _MAX_ELEMENTS // ((1 + extra) * max(d, 1))))


@torch.no_grad()
def acquisition_values(acqf: AcquisitionFunction, X: Tensor, chunk: int = 1024) -> Tensor:
    """Score each design alone (``q = 1``).

    Args:
        acqf: A BoTorch acquisition function.
        X: `n x d` features.
        chunk: Designs per call (lowered automatically when each design is evaluated
            jointly with many baseline or pending rows, as in ``lognei``).

    Returns:
        A `n` tensor of acquisition values.
    """
    n, d = X.shape
    chunk = chunk_size(acqf, d, chunk)
    parts = [acqf(X[i:i + chunk].unsqueeze(-2)) for i in range(0, n, chunk)]
    return torch.cat(parts) if parts else X.new_zeros(0)


class LogReward(Protocol):
    """A round's log-reward `log R(x)` of designs (`make_log_reward`)."""

    acquisition: AcquisitionFunction  # the BoTorch acquisition it was built on (selection ranks by it)

    def __call__(self, designs: list[str]) -> Tensor: ...


def make_log_reward(
    surrogate,
    config: AcquisitionConfig,
    train_designs: Sequence[str],
    train_y: Sequence[float],
) -> LogReward:
    """The GFlowNet log-reward ``log R(x)`` of one round.

    ``reward="acquisition"``: ``log R = u(x) / temperature`` with ``u`` scale-free:
    ``(acq - mean(y)) / std(y)`` for ``ucb``, ``mean`` and ``thompson`` (they are in units of
    ``y``, so this is the acquisition on standardised labels); ``acq - log std(y)`` for
    ``logei``/``lognei`` (log-EI of standardised labels: a constant shift); ``log PI`` for
    ``pi``. ``reward="rank"``: ``log R = -log(rank) / temperature`` where
    ``rank = 1 + #{training designs with a larger u}``, i.e. in ``1 .. n_train + 1``, so every
    design better than all labelled ones has ``log R = 0``.

    Every log-reward is clamped below at ``LOG_REWARD_FLOOR`` (NaN maps there too), and
    designs that do not featurize (invalid or empty SMILES) get exactly ``LOG_REWARD_FLOOR``.
    The acquisition (and the Thompson member) is fixed when this is called.

    Args:
        surrogate: A fitted surrogate with ``model`` and ``features(designs)``
            (``EnsembleSurrogate``).
        config: Acquisition and reward settings.
        train_designs: The labelled designs the surrogate was fitted on.
        train_y: Their labels.

    Returns:
        A function from ``n`` designs to a `n` float64 tensor of log-rewards; its
        ``acquisition`` attribute is the BoTorch acquisition it was built on.
    """
    train_X = surrogate.features(list(train_designs))
    y = torch.as_tensor(list(train_y), dtype=torch.float64).reshape(-1)
    entry = acquisition_entry(config)
    acqf = entry.build(surrogate.model, train_X, y.to(train_X.dtype))

    def utility(X: Tensor) -> Tensor:
        return entry.utility(acquisition_values(acqf, X).to(torch.float64), y)

    reference = torch.sort(utility(train_X)).values if config.reward == "rank" else None

    def log_reward(designs: list[str]) -> Tensor:
        out = torch.full((len(designs),), LOG_REWARD_FLOOR, dtype=torch.float64)
        rows, valid = [], []
        for i, design in enumerate(designs):
            try:
                rows.append(surrogate.features([design]))
            except (ValueError, TypeError):
                continue
            valid.append(i)
        if not valid:
            return out
        u = utility(torch.cat(rows))
        if reference is not None:  # a NaN utility ranks last (searchsorted puts it above everything)
            u = u.nan_to_num(nan=-math.inf)
            larger = reference.numel() - torch.searchsorted(reference, u, right=True)
            rank = 1.0 + larger.to(torch.float64)
            u = -torch.log(rank)
        value = (u / config.temperature).nan_to_num(nan=LOG_REWARD_FLOOR)
        out[torch.tensor(valid)] = value.clamp_min(LOG_REWARD_FLOOR)
        return out

    log_reward.acquisition = acqf  # type: ignore[attr-defined]  # the round's acquisition, for selection
    return cast(LogReward, log_reward)
