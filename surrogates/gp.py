"""An exact GP on fingerprints with a Tanimoto kernel, for small label sets.

``TanimotoKernel`` is a parameter-free GPyTorch kernel, ``k(x, x') = <x, x'> / (|x|^2 +
|x'|^2 - <x, x'>)``: the Tanimoto (Jaccard) similarity for 0/1 bit fingerprints and its
standard continuous extension for count features (as in GAUCHE; it is positive definite on
non-negative vectors). Sparse fingerprints go through a sparse matrix product, so the
`n x n` kernel of 3,000 molecules on 2,048 bits costs about a tenth of a dense product.

``TanimotoGPSurrogate`` wraps BoTorch's ``SingleTaskGP`` (constant mean, scaled Tanimoto
kernel, Gaussian noise, ``Standardize`` outcome transform; hyper-parameters by
``fit_gpytorch_mll``) behind the interface of ``EnsembleSurrogate``: ``fit``, ``model``,
``features``, ``predict``, ``state_dict``/``load_state_dict``. The exact GP costs
``O(n^3)``: it refuses more than ``EnsembleConfig.gp_max_labels`` labels unless
``gp_subsample`` is set, then it fits on that many: the best half of the labels and a seeded
random draw from the rest. A warm refit (``warm_max_steps``) starts from the last fit's
hyper-parameters and takes a few L-BFGS iterations, so small rounds do not pay a full fit.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import gpytorch
import torch
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.optim.fit import fit_gpytorch_mll_scipy
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import AdditiveKernel, Kernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.operators import DenseLinearOperator, DiagLinearOperator
from torch import Tensor

from .featurizers import Featurizer
from .mlp import SPARSE_DENSITY
from .settings import EnsembleConfig
from .training import torch_threads

__all__ = ["TanimotoGP", "TanimotoGPSurrogate", "TanimotoKernel", "tanimoto_kernel"]


def _subset(y: Tensor, size: int, seed: int) -> list[int]:
    """`size` of the labelled rows for a capped GP: the best half (where the search is) and a
    seeded uniform draw from the rest (so the GP still sees what scores poorly), in row order."""
    best = torch.sort(-y, stable=True).indices[: size // 2]
    rest = torch.ones(y.numel(), dtype=torch.bool)
    rest[best] = False
    others = rest.nonzero().reshape(-1)
    g = torch.Generator().manual_seed(seed)
    drawn = others[torch.randperm(others.numel(), generator=g)[: size - best.numel()]]
    return sorted(torch.cat([best, drawn]).tolist())


#: Version tag of ``TanimotoGPSurrogate.state_dict()`` checkpoints.
STATE_FORMAT = "sciloop.surrogates.TanimotoGPSurrogate/1"


def _matmul_t(A: Tensor, B: Tensor) -> Tensor:
    """``A @ B.T`` for `n x d`, `m x d`; through a CSR product when ``A`` is sparse."""
    if (not A.requires_grad and A.shape[0] > 0
            and torch.count_nonzero(A).item() <= SPARSE_DENSITY * A.numel()):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse.mm(A.to_sparse_csr(), B.mT.contiguous())
    return A @ B.mT


def tanimoto_dot(x1: Tensor, x2: Tensor) -> Tensor:
    """Inner products `... x n x m` of the rows of ``x1`` (`... x n x d`) and ``x2``."""
    if x2.dim() == 2:
        flat = _matmul_t(x1.reshape(-1, x1.shape[-1]), x2)
        return flat.reshape(*x1.shape[:-1], x2.shape[-2])
    if x1.dim() == 2:
        flat = _matmul_t(x2.reshape(-1, x2.shape[-1]), x1)
        return flat.reshape(*x2.shape[:-1], x1.shape[-2]).mT
    return x1 @ x2.mT


class TanimotoKernel(Kernel):
    """``k(x, x') = <x, x'> / (|x|^2 + |x'|^2 - <x, x'>)`` (no hyper-parameters).

    Example:
        >>> k = TanimotoKernel()
        >>> k(torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[1.0, 0.0, 1.0]])).to_dense()
        tensor([[0.3333]])
    """

    has_lengthscale = False

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False,
                last_dim_is_batch: bool = False, **params: Any) -> Tensor:
        """The kernel matrix `... x n x m` (or its diagonal `... x n`)."""
        if last_dim_is_batch:
            raise NotImplementedError("TanimotoKernel does not support last_dim_is_batch")
        if diag:
            dot = (x1 * x2).sum(-1)
            denom = x1.pow(2).sum(-1) + x2.pow(2).sum(-1) - dot
            return dot / denom.clamp_min(1e-12)
        dot = tanimoto_dot(x1, x2)
        n1 = x1.pow(2).sum(-1).unsqueeze(-1)
        n2 = x2.pow(2).sum(-1).unsqueeze(-2)
        return dot / (n1 + n2 - dot).clamp_min(1e-12)


def tanimoto_kernel(blocks: Sequence[int] = ()) -> Kernel:
    """A scaled Tanimoto kernel; for features made of several fingerprints (`blocks`: their sizes,
    in order, e.g. ``MorganAtomPairFeaturizer.blocks``), the sum of one scaled Tanimoto kernel per
    fingerprint, so the marginal likelihood weighs each (a fingerprint that does not explain the
    labels gets a scale near 0)."""
    if len(blocks) <= 1:
        return ScaleKernel(TanimotoKernel())
    starts = [0, *itertools.accumulate(blocks)]
    return AdditiveKernel(*(ScaleKernel(TanimotoKernel(active_dims=torch.arange(start, start + size)))
                            for start, size in zip(starts, blocks)))


class TanimotoGP(SingleTaskGP):
    """``SingleTaskGP`` whose posterior is computed exactly (Cholesky, no LOVE) and eagerly.

    The posterior's covariance is evaluated inside ``posterior`` under exact settings, so
    BoTorch's Monte Carlo acquisitions later sample from a dense `q x q` matrix.
    """

    marginal_q1 = True  # `posterior` scores `b x 1 x d` designs from their marginals (no training rows joined)

    def _exact(self) -> ExitStack:
        stack = ExitStack()
        limit = max(gpytorch.settings.max_cholesky_size.value(),
                    self.train_inputs[0].shape[-2] + 1)
        stack.enter_context(gpytorch.settings.fast_pred_var(False))
        stack.enter_context(gpytorch.settings.max_cholesky_size(limit))
        return stack

    def posterior(self, X: Tensor, *args: Any, **kwargs: Any) -> GPyTorchPosterior:
        """The posterior at `b x q x d` features (see ``SingleTaskGP.posterior``).

        With `q = 1` (each design scored alone, as `acquisition_values` does) the posterior of
        each design is its marginal: mean and variance of all `b` designs come from one pass
        (GPyTorch would otherwise join the training rows to every design of the batch: 40 CPU
        seconds for 1,000 designs on 1,000 labels instead of 0.4)."""
        if X.dim() >= 3 and X.shape[-2] == 1 and not args and kwargs.get("posterior_transform") is None:
            mean, var = self.marginals(X.reshape(-1, X.shape[-1]), bool(kwargs.get("observation_noise", False)))
            shape = (*X.shape[:-1],)
            return GPyTorchPosterior(MultivariateNormal(mean.reshape(shape), DiagLinearOperator(var.reshape(shape))))
        with self._exact():
            mvn = super().posterior(X, *args, **kwargs).distribution
            # a linear operator, not a tensor: its root decomposition adds jitter when two
            # rows coincide (e.g. a candidate equal to a pending point)
            dense = MultivariateNormal(mvn.mean, DenseLinearOperator(mvn.covariance_matrix))
        return GPyTorchPosterior(dense)

    @torch.no_grad()
    def marginals(self, X: Tensor, observation_noise: bool = False) -> tuple[Tensor, Tensor]:
        """Posterior mean and variance at each of the `n x d` rows (no `n x n` covariance)."""
        with self._exact():
            mvn = super().posterior(X, observation_noise=observation_noise).distribution
            return mvn.mean.reshape(-1), mvn.variance.reshape(-1)


class TanimotoGPSurrogate:
    """Featurizer + exact Tanimoto GP with the interface of ``EnsembleSurrogate``.

    Example:
        >>> surrogate = TanimotoGPSurrogate(MorganFeaturizer(), EnsembleConfig(member="gp"))
        >>> surrogate.fit(["CCO", "CCN", "c1ccccc1"], [0.1, 0.3, 1.2])["fit_seconds"]
        >>> mean, std = surrogate.predict(["CCCO"])  # each `1`
    """

    def __init__(self, featurizer: Featurizer, config: EnsembleConfig | None = None) -> None:
        """Set up an unfitted surrogate.

        Args:
            featurizer: Non-negative fingerprint features (e.g. ``MorganFeaturizer``).
            config: Uses ``gp_max_labels``, ``gp_subsample``, ``seed``, ``num_threads``.
        """
        self.featurizer = featurizer
        self.config = config or EnsembleConfig(member="gp")
        self._model: TanimotoGP | None = None
        self._designs: list[str] = []
        self._y: list[float] = []

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` (or ``load_state_dict``) has run."""
        return self._model is not None

    @property
    def model(self) -> TanimotoGP:
        """The fitted BoTorch model over feature rows (see ``features``)."""
        if self._model is None:
            raise RuntimeError("the surrogate is not fitted: call fit() or load_state_dict()")
        return self._model

    def features(self, designs: Sequence[str]) -> Tensor:
        """Featurize designs for ``model`` (a `n x d` float64 tensor)."""
        return self.featurizer(list(designs)).to(torch.float64)

    def _build(self, designs: list[str], y: list[float]) -> TanimotoGP:
        X = self.features(designs)
        Y = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)
        return TanimotoGP(X, Y, covar_module=tanimoto_kernel(getattr(self.featurizer, "blocks", ())),
                          outcome_transform=Standardize(m=1))

    def fit(self, designs: Sequence[str], y: Sequence[float], warm: bool = False) -> dict[str, float]:
        """Fit the GP's hyper-parameters (mean, scale, noise) by marginal likelihood.

        Args:
            designs: ``n >= 2`` SMILES strings (all must featurize).
            y: ``n`` finite labels.
            warm: start from the current fit's hyper-parameters and take at most
                ``config.warm_max_steps`` L-BFGS iterations (a first fit starts afresh). The
                outcome standardisation is always the new labels'.

        Returns:
            ``fit_seconds``, ``fit_cpu_seconds``, ``n_train`` (after any subsampling),
            ``train_rmse`` (posterior mean at the training designs), ``noise`` and
            ``outputscale`` (standardised units), ``warm`` (1: it started from the last fit)
            and, for a warm refit, ``steps`` (its L-BFGS iterations).

        Raises:
            ValueError: On mismatched, non-finite or too few labels, more than
                ``gp_max_labels`` labels without ``gp_subsample``, or ``warm`` without
                ``warm_max_steps``.
        """
        designs = list(designs)
        Y = torch.as_tensor(list(y), dtype=torch.float64).reshape(-1)
        if len(designs) != Y.numel():
            raise ValueError(f"{len(designs)} designs but {Y.numel()} labels")
        if Y.numel() < 2:
            raise ValueError("need at least 2 labelled designs to fit the GP")
        if not torch.isfinite(Y).all():
            raise ValueError("labels must be finite (drop failed oracle results first)")
        cfg = self.config
        if len(designs) > cfg.gp_max_labels:
            if not cfg.gp_subsample:
                raise ValueError(
                    f"{len(designs)} labels exceed gp_max_labels={cfg.gp_max_labels}: the exact "
                    f"GP costs O(n^3); set gp_subsample=True to fit on a random subset, or use "
                    f"member 'mlp'")
            keep = _subset(Y, cfg.gp_max_labels, int(cfg.seed))
            designs, Y = [designs[i] for i in keep], Y[keep]
        if warm and cfg.warm_max_steps is None:
            raise ValueError("a warm refit needs warm_max_steps (the most L-BFGS iterations it takes)")
        previous = self._model if warm else None
        steps: dict[str, float] = {}
        start, start_cpu = time.perf_counter(), time.process_time()
        with torch_threads(cfg.num_threads):
            model = self._build(designs, Y.tolist())
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            limit = max(gpytorch.settings.max_cholesky_size.value(), len(designs) + 1)
            with gpytorch.settings.max_cholesky_size(limit):
                if previous is None:
                    fit_gpytorch_mll(mll)
                else:  # the last fit's mean, scale and noise; no retries from the priors
                    model.load_state_dict({k: v for k, v in previous.state_dict().items()
                                           if not k.startswith("outcome_transform")}, strict=False)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", OptimizationWarning)  # the capped iterations
                        result = fit_gpytorch_mll_scipy(mll.train(), options={"maxiter": cfg.warm_max_steps})
                    steps = {"steps": float(result.step)}
            model.eval()
            self._model, self._designs, self._y = model, designs, Y.tolist()
            mean, _ = self.predict(designs)
        return {
            "fit_seconds": time.perf_counter() - start,
            "fit_cpu_seconds": time.process_time() - start_cpu,
            "n_train": float(len(designs)),
            "train_rmse": float((mean - Y).pow(2).mean().sqrt()),
            "noise": float(model.likelihood.noise.detach().reshape(-1)[0]),
            "outputscale": sum(float(k.outputscale.detach().reshape(-1)[0])
                               for k in getattr(model.covar_module, "kernels", [model.covar_module])),
            "warm": float(previous is not None), **steps,
        }

    @torch.no_grad()
    def predict(self, designs: Sequence[str], calibrated: bool = True,
                chunk: int = 1024) -> tuple[Tensor, Tensor]:
        """Posterior predictive mean and std of the labels (noise included).

        Args:
            designs: ``n`` SMILES strings.
            calibrated: Ignored (the GP's spread is its own); kept for ``EnsembleSurrogate``
                compatibility.
            chunk: Designs per posterior call.

        Returns:
            ``(mean, std)``, each a `n` float64 tensor in the units of ``y``.
        """
        designs = list(designs)
        means, stds = [], []
        for i in range(0, len(designs), chunk):
            mean, var = self.model.marginals(self.features(designs[i:i + chunk]),
                                             observation_noise=True)
            means.append(mean)
            stds.append(var.clamp_min(0).sqrt())
        if not means:
            return torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
        return torch.cat(means), torch.cat(stds)

    def state_dict(self) -> dict[str, Any]:
        """A checkpoint: config, training designs and labels, GP parameters (CPU tensors)."""
        model = self.model
        return {
            "format": STATE_FORMAT,
            "config": self.config.model_dump(),
            "designs": list(self._designs),
            "y": list(self._y),
            "gp": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint from ``state_dict`` (refeaturizes the training designs)."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a TanimotoGPSurrogate checkpoint: {state.get('format')!r}")
        self.config = EnsembleConfig(**state["config"])
        model = self._build(list(state["designs"]), list(state["y"]))
        model.load_state_dict(state["gp"])
        self._model, self._designs, self._y = model.eval(), list(state["designs"]), list(state["y"])
