"""Named BoTorch acquisitions on the ensemble posterior, and the GFlowNet log-reward built on them.

Every acquisition is one of BoTorch's Monte Carlo acquisitions. On an ensemble posterior the
"samples" are the members' predictions, so instead of drawing member indices at random
(BoTorch's default ``IndexSampler``), ``EnsembleMemberSampler`` takes each member exactly once:
the Monte Carlo average is then the exact average over members and the values are
deterministic. Thompson sampling is the same sampler restricted to one member.

On a Gaussian posterior (the Tanimoto GP, ``gp.TanimotoGP``) the same names use BoTorch's
seeded quasi-Monte Carlo normal sampler (``mc_samples`` draws, fixed base samples, so values
are deterministic too).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

__all__ = [
    "ACQUISITION_NAMES",
    "LOG_REWARD_FLOOR",
    "AcquisitionConfig",
    "EnsembleMemberSampler",
    "acquisition_values",
    "make_acquisition",
    "make_log_reward",
]

#: Names accepted by ``make_acquisition`` (``AcquisitionConfig.name``).
ACQUISITION_NAMES = ("ucb", "logei", "lognei", "pi", "mean", "thompson")
#: Names accepted as ``AcquisitionConfig.reward``.
REWARD_KINDS = ("acquisition", "rank")
#: Log-reward of designs that do not featurize, and the lower clamp of every log-reward.
LOG_REWARD_FLOOR = -50.0
#: Feature elements (candidates x rows per candidate x d) evaluated at once.
_MAX_ELEMENTS = 2**25


@dataclass
class AcquisitionConfig:
    """How candidates are scored and turned into a GFlowNet reward.

    Attributes:
        name: One of ``ACQUISITION_NAMES``.
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
        seed: Seed of the Thompson member draw (None: drawn from torch's global generator),
            and of the quasi-Monte Carlo samples on a non-ensemble (GP) posterior (None: 0).
        mc_samples: Quasi-Monte Carlo samples per design on a non-ensemble (GP) posterior.
    """

    name: str = "ucb"
    beta: float = 1.0
    temperature: float = 1.0
    reward: str = "acquisition"
    pi_tau: float = 0.1
    ei_tau: float = 0.01
    seed: int | None = None
    mc_samples: int = 128

    def __post_init__(self) -> None:
        if self.name not in ACQUISITION_NAMES:
            raise ValueError(f"unknown acquisition {self.name!r}; valid: {ACQUISITION_NAMES}")
        if self.reward not in REWARD_KINDS:
            raise ValueError(f"unknown reward {self.reward!r}; valid: {REWARD_KINDS}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


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
    """Build the named BoTorch acquisition on an ensemble model.

    ``ucb``: ``qUpperConfidenceBound(beta)``; ``logei``: ``qLogExpectedImprovement`` with
    ``best_f = max(train_y)`` and ``tau_relu = ei_tau * std(train_y)``; ``lognei``:
    ``qLogNoisyExpectedImprovement`` with
    ``X_baseline = train_X``; ``pi``: ``qProbabilityOfImprovement`` (``best_f = max(train_y)``,
    ``tau = pi_tau * std(train_y)``); ``mean``: ``qSimpleRegret`` (the posterior mean for
    ``q = 1``); ``thompson``: ``qSimpleRegret`` on ONE member drawn here (uniformly, with
    ``config.seed``), so it is fixed for the acquisition's life, i.e. one draw per round;
    the drawn index is stored as ``acqf.thompson_member``.

    On a non-ensemble model (the Tanimoto GP) the same acquisitions run with a
    ``SobolQMCNormalSampler`` of ``mc_samples`` draws (seeded); ``thompson`` then uses ONE
    quasi-Monte Carlo draw whose base sample is shared by all designs scored alone, i.e.
    ``mean + z std`` with one ``z ~ N(0, 1)`` per round (a randomised UCB, not a joint
    function draw: the Tanimoto kernel has no random-feature sampler here);
    ``acqf.thompson_member`` is None.

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
    if config.name not in ACQUISITION_NAMES:
        raise ValueError(f"unknown acquisition {config.name!r}; valid: {ACQUISITION_NAMES}")
    train_y = torch.as_tensor(train_y, dtype=train_X.dtype).reshape(-1)
    s = _members(model, train_X)
    seed = 0 if config.seed is None else int(config.seed)
    sampler = (EnsembleMemberSampler(range(s)) if s is not None
               else SobolQMCNormalSampler(torch.Size([config.mc_samples]), seed=seed))
    best_f = float(train_y.max())
    if config.name == "ucb":
        return qUpperConfidenceBound(model, beta=config.beta, sampler=sampler)
    if config.name == "logei":
        return qLogExpectedImprovement(model, best_f=best_f, sampler=sampler,
                                       tau_relu=config.ei_tau * _std(train_y))
    if config.name == "lognei":
        return qLogNoisyExpectedImprovement(model, X_baseline=train_X, sampler=sampler,
                                            prune_baseline=True, cache_root=False,
                                            tau_relu=config.ei_tau * _std(train_y))
    if config.name == "pi":
        tau = config.pi_tau * _std(train_y)
        return qProbabilityOfImprovement(model, best_f=best_f, sampler=sampler, tau=tau)
    if config.name == "mean":
        return qSimpleRegret(model, sampler=sampler)
    if s is None:
        acqf = qSimpleRegret(model, sampler=SobolQMCNormalSampler(torch.Size([1]), seed=seed))
        acqf.thompson_member = None
        return acqf
    g = torch.Generator().manual_seed(config.seed) if config.seed is not None else None
    member = int(torch.randint(s, (1,), generator=g))
    acqf = qSimpleRegret(model, sampler=EnsembleMemberSampler([member]))
    acqf.thompson_member = member
    return acqf


def _std(y: Tensor) -> float:
    std = float(y.std()) if y.numel() > 1 else 1.0
    return std if std > 1e-12 else 1.0


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
    extra = 0
    for name in ("X_baseline", "X_pending"):
        rows = getattr(acqf, name, None)
        extra += 0 if rows is None else rows.shape[-2]
    chunk = max(1, min(chunk, _MAX_ELEMENTS // ((1 + extra) * max(d, 1))))
    parts = [acqf(X[i:i + chunk].unsqueeze(-2)) for i in range(0, n, chunk)]
    return torch.cat(parts) if parts else X.new_zeros(0)


def make_log_reward(
    surrogate,
    config: AcquisitionConfig,
    train_designs: Sequence[str],
    train_y: Sequence[float],
) -> Callable[[list[str]], Tensor]:
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
    acqf = make_acquisition(config, surrogate.model, train_X, y)
    mean_y, std_y = float(y.mean()), _std(y)

    def utility(X: Tensor) -> Tensor:
        a = acquisition_values(acqf, X).to(torch.float64)
        if config.name in ("ucb", "mean", "thompson"):
            return (a - mean_y) / std_y
        if config.name in ("logei", "lognei"):
            return a - math.log(std_y)
        return torch.log(a.clamp_min(torch.finfo(torch.float64).tiny))  # pi

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
        if reference is not None:
            larger = reference.numel() - torch.searchsorted(reference, u, right=True)
            rank = 1.0 + larger.to(torch.float64)
            u = -torch.log(rank)
        value = (u / config.temperature).nan_to_num(nan=LOG_REWARD_FLOOR)
        out[torch.tensor(valid)] = value.clamp_min(LOG_REWARD_FLOOR)
        return out

    log_reward.acquisition = acqf  # type: ignore[attr-defined]  # the round's acquisition, for selection
    return log_reward
