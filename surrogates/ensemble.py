"""The surrogate: an ensemble (MLP, GNN or CNN members) as a BoTorch ``EnsembleModel``.

``EnsembleSurrogate`` owns the featurizer, fits the vectorised ensemble on standardised
labels, recalibrates the members' spread on out-of-bag rows (``calibration``), and hands out
``MLPEnsembleModel``, whose ``posterior(X)`` is BoTorch's ``EnsemblePosterior`` over the
(calibrated) members' predictions in the original units of ``y``, so BoTorch's Monte Carlo
acquisitions run on it unchanged. The surrogate kinds (these networks, and the Tanimoto GP in
``gp``) are registered in ``members``; this module does not import ``gp``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

import torch
from botorch.models.ensemble import EnsembleModel
from torch import Tensor

from .calibration import VarianceMap, fit_variance_map, oob_mean_std
from .featurizers import Featurizer
from .mlp import VectorisedMLPEnsemble, train_ensemble
from .settings import EnsembleConfig
from .training import TrainConfig, member_weights, resolve_device, row_keys, torch_threads, train_members

__all__ = ["NETS", "EnsembleConfig", "EnsembleSurrogate", "MLPEnsembleModel", "VectorisedMLPEnsemble"]

#: Version tag of ``EnsembleSurrogate.state_dict()`` checkpoints.
STATE_FORMAT = "sciloop.surrogates.EnsembleSurrogate/1"


def _mlp(config: EnsembleConfig, featurizer: Featurizer, in_dim: int) -> torch.nn.Module:
    return VectorisedMLPEnsemble(in_dim, config.members, config.hidden, config.layers, config.dropout, config.seed)


def _gnn(config: EnsembleConfig, featurizer: Featurizer, in_dim: int) -> torch.nn.Module:
    from .gnn import GINEEnsemble
    from .graphs import GraphFeaturizer
    if not isinstance(featurizer, GraphFeaturizer):
        raise TypeError(f"member 'gnn' needs a GraphFeaturizer, got {featurizer!r}")
    return GINEEnsemble(featurizer, config.members, config.hidden, config.layers, config.seed)


def _cnn(config: EnsembleConfig, featurizer: Featurizer, in_dim: int) -> torch.nn.Module:
    from .cnn import CNNEnsemble
    from .sequences import OneHotFeaturizer, SequenceFeaturizer
    if not isinstance(featurizer, SequenceFeaturizer) or isinstance(featurizer, OneHotFeaturizer):
        raise TypeError(f"member 'cnn' needs a SequenceFeaturizer (token ids), got {featurizer!r}")
    return CNNEnsemble(featurizer, config.members, config.hidden, config.layers, config.seed)


#: The ensemble networks ``EnsembleSurrogate`` fits, by ``EnsembleConfig.member`` (the
#: surrogate kinds as a whole, the GP included, are ``members.MEMBERS``).
NETS: dict[str, Callable[[EnsembleConfig, Featurizer, int], torch.nn.Module]] = {
    "mlp": _mlp, "gnn": _gnn, "cnn": _cnn}


def build_net(config: EnsembleConfig, featurizer: Featurizer, in_dim: int) -> torch.nn.Module:
    """A fresh, untrained ensemble network of the configured member kind.

    Args:
        config: The ensemble's hyper-parameters (``member`` picks the kind).
        featurizer: The surrogate's featurizer (a GNN keeps it: inputs are its table indices).
        in_dim: Feature dimension ``d`` (used by the MLP).

    Returns:
        A module mapping `n x d` features to `K x n` member predictions, with ``members``
        and ``member_view``.
    """
    if config.member not in NETS:
        raise ValueError(f"member {config.member!r} is not an ensemble network (valid: {', '.join(NETS)}): "
                         f"build it with make_surrogate")
    return NETS[config.member](config, featurizer, in_dim)


def _load_device(setting: str) -> torch.device:
    """Where a loaded checkpoint's ensemble goes: its device where this process has it, else the
    CPU (a state fitted on a Ray task's GPU, or a campaign resumed on a machine without one)."""
    try:
        return resolve_device(setting)
    except ValueError:
        return torch.device("cpu")


def _shapes(net: torch.nn.Module) -> dict[str, torch.Size]:
    """What a warm start needs to match: every weight's name and shape (an MLP's input width, a
    GNN's or CNN's layers)."""
    return {k: v.shape for k, v in net.state_dict().items()}


class MLPEnsembleModel(EnsembleModel):
    """A BoTorch ensemble model over feature rows; predictions in the original units of ``y``.

    Despite the name it wraps any ensemble network mapping `n x d` features to `K x n`
    (MLP on fingerprints, GNN on graph-table indices, CNN on token ids). The network
    computes in its own dtype (float32); outputs are cast to the dtype of ``X``. With a fitted
    ``calibration`` (and ``calibrated`` True) the members' deviations from their mean are
    stretched so that their variance is ``a s^2 + b`` (standardised units).

    Example:
        >>> posterior = model.posterior(X)  # `X`: `b x q x d`
        >>> posterior.values.shape          # `b x s x q x 1`
    """

    def __init__(self, net: VectorisedMLPEnsemble, y_mean: float, y_std: float,
                 calibration: VarianceMap | None = None) -> None:
        """Wrap a trained ensemble.

        Args:
            net: The trained vectorised ensemble (predicts standardised ``y``).
            y_mean: Mean of the training labels.
            y_std: Standard deviation of the training labels (the standardisation scale).
            calibration: Variance map of the members' spread (None: the identity).
        """
        super().__init__()
        self.net = net
        self.calibration = calibration or VarianceMap()
        #: Whether ``forward`` applies ``calibration`` (switch off to see the raw spread).
        self.calibrated = True
        self.register_buffer("y_mean", torch.tensor(float(y_mean), dtype=torch.float64))
        self.register_buffer("y_std", torch.tensor(float(y_std), dtype=torch.float64))
        self._num_outputs = 1

    @property
    def members(self) -> int:
        """The ensemble size ``s``."""
        return self.net.members

    def forward(self, X: Tensor) -> Tensor:
        """Member predictions, un-standardised.

        Args:
            X: A `batch_shape x n x d` tensor of features.

        Returns:
            A `batch_shape x s x n x 1` tensor of member predictions in the units of ``y``.
        """
        batch, (n, d) = X.shape[:-2], X.shape[-2:]
        device = next(self.net.parameters()).device  # the net's; the rest stays where `X` is
        out = self.net(X.reshape(-1, d).to(device)).to(X.device, X.dtype)  # `s x (B * n)`
        if self.calibrated:
            out = self.calibration.apply(out)
        out = out * self.y_std.to(X.dtype) + self.y_mean.to(X.dtype)
        s = out.shape[0]
        out = out.reshape(s, -1, n).transpose(0, 1)  # `B x s x n`
        return out.reshape(*batch, s, n, 1)


class EnsembleSurrogate:
    """Featurizer + ensemble: fit on labelled designs, predict, hand out a BoTorch model.

    Example:
        >>> surrogate = EnsembleSurrogate(MorganFeaturizer(), EnsembleConfig(members=5))
        >>> surrogate.fit(["CCO", "CCN", "c1ccccc1"], [0.1, 0.3, 1.2])["fit_seconds"]
        >>> mean, std = surrogate.predict(["CCCO"])  # each `1`
    """

    def __init__(self, featurizer: Featurizer, config: EnsembleConfig | None = None) -> None:
        """Set up an unfitted surrogate.

        Args:
            featurizer: Maps designs to `n x d` feature tensors (e.g. ``MorganFeaturizer``).
            config: Ensemble hyper-parameters (defaults if None).
        """
        self.featurizer = featurizer
        self.config = config or EnsembleConfig()
        self._model: MLPEnsembleModel | None = None

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` (or ``load_state_dict``) has run."""
        return self._model is not None

    @property
    def device(self) -> torch.device:
        """Where the fitted ensemble lives (``config.device`` resolved at the fit or load)."""
        return next(self.model.net.parameters()).device

    def make_net(self, in_dim: int) -> torch.nn.Module:
        """A fresh ensemble network (``build_net``; a plugin subclass may return its own: a module
        mapping `n x d` features to `K x n` with ``members`` and ``member_view``)."""
        return build_net(self.config, self.featurizer, in_dim)

    @property
    def model(self) -> MLPEnsembleModel:
        """The fitted BoTorch model over feature rows (see ``features``)."""
        if self._model is None:
            raise RuntimeError("the surrogate is not fitted: call fit() or load_state_dict()")
        return self._model

    def features(self, designs: Sequence[str]) -> Tensor:
        """Featurize designs for ``model``.

        Args:
            designs: ``n`` SMILES strings.

        Returns:
            A `n x d` feature tensor (float64 for ``MorganFeaturizer``).

        Raises:
            ValueError: If a design does not featurize.
        """
        return self.featurizer(list(designs))

    def fit(self, designs: Sequence[str], y: Sequence[float], warm: bool = False) -> dict[str, float]:
        """Fit the ensemble on labelled designs (labels are standardised internally).

        Args:
            designs: ``n >= 2`` SMILES strings (all must featurize; filter failures first).
            y: ``n`` finite labels (larger is better for the acquisitions).
            warm: start from the current fit's weights, for at most ``config.warm_max_steps``
                steps (needs ``warm_max_steps``; a first fit starts afresh). Else a fresh ensemble.

        Returns:
            ``train_loss`` (standardised units), ``train_rmse`` (of the ensemble mean, in
            units of ``y``), ``val_mse`` (standardised units, members' best held-out MSE),
            ``epochs``, ``best_epoch``, ``fit_seconds`` (wall), ``fit_cpu_seconds``,
            ``steps``, ``n_train``, ``warm`` (1: warm-started), ``cuda`` (1: fitted on a CUDA
            device, ``config.device``), and the spread's calibration
            ``calibration_a``, ``calibration_b`` (standardised units), ``calibration_rows``.

        Raises:
            ValueError: `warm` without ``config.warm_max_steps``, or bad labels.
        """
        designs = list(designs)
        Y = torch.as_tensor(list(y), dtype=torch.float64).reshape(-1)
        if len(designs) != Y.numel():
            raise ValueError(f"{len(designs)} designs but {Y.numel()} labels")
        if Y.numel() < 2:
            raise ValueError("need at least 2 labelled designs to fit the ensemble")
        if not torch.isfinite(Y).all():
            raise ValueError("labels must be finite (drop failed oracle results first)")
        X = self.features(designs)
        y_mean, y_std = float(Y.mean()), float(Y.std())
        if not y_std > 1e-12:
            y_std = 1.0
        cfg = self.config
        if warm and cfg.warm_max_steps is None:
            raise ValueError("a warm fit needs config.warm_max_steps")
        keys = row_keys(designs) if cfg.warm_max_steps is not None else None
        net = self.make_net(X.shape[-1])
        warm = warm and self._model is not None and _shapes(self._model.net) == _shapes(net)
        if warm:
            net.load_state_dict(self.model.net.state_dict())
        Z = (Y - y_mean) / y_std
        device = resolve_device(cfg.device)
        net, X_fit, Z_fit = net.to(device), X.to(device), Z.to(device)
        with torch_threads(cfg.num_threads):
            stats = self._train(net, X_fit, Z_fit, keys, cfg.warm_max_steps if warm else cfg.max_steps)
            calibration = self._calibrate(net, X_fit, Z, keys) if cfg.calibrate else VarianceMap()
        stats["train_rmse"] *= y_std
        stats["n_train"] = float(len(designs))
        stats["warm"] = float(warm)
        stats["cuda"] = float(device.type == "cuda")
        stats.update(calibration_a=calibration.a, calibration_b=calibration.b,
                     calibration_rows=float(calibration.rows))
        self._model = MLPEnsembleModel(net, y_mean, y_std, calibration).eval()
        return stats

    def _train_config(self) -> TrainConfig:
        cfg = self.config
        return TrainConfig(epochs=cfg.epochs, lr=cfg.lr, weight_decay=cfg.weight_decay,
                           batch_size=cfg.batch_size, bootstrap=cfg.bootstrap,
                           patience=cfg.patience, val_fraction=cfg.val_fraction,
                           max_steps=cfg.max_steps, seed=cfg.seed)

    @torch.no_grad()
    def _calibrate(self, net: torch.nn.Module, X: Tensor, Z: Tensor, keys: list[int] | None) -> VarianceMap:
        """Fit the variance map on the rows each member never saw (see ``calibration``); `Z` on the CPU."""
        net.eval()
        pred = torch.cat([net(X[lo:lo + 4096]).to("cpu", torch.float64)
                          for lo in range(0, X.shape[0], 4096)], dim=-1)
        weights = member_weights(Z.numel(), pred.shape[0], self._train_config(), keys=keys)
        rows, mean, std = oob_mean_std(pred, weights)
        return fit_variance_map(mean, std, Z[rows])

    def _train(self, net: torch.nn.Module, X: Tensor, Z: Tensor, keys: list[int] | None,
               max_steps: int | None) -> dict[str, float]:
        """Train ``net`` on features `n x d` and standardised labels `n` (row `keys`: see ``fit``)."""
        cfg = self.config.model_copy(update={"max_steps": max_steps})
        if cfg.member == "mlp":  # sparse fingerprints take the sparse first-layer path
            stats = train_ensemble(net, X, Z, epochs=cfg.epochs, lr=cfg.lr,
                                   weight_decay=cfg.weight_decay, batch_size=cfg.batch_size,
                                   bootstrap=cfg.bootstrap, seed=cfg.seed,
                                   patience=cfg.patience, max_steps=cfg.max_steps,
                                   val_fraction=cfg.val_fraction, keys=keys)
        else:
            stats = train_members(net, lambda idx: net(X[idx]), Z,
                                  replace(self._train_config(), max_steps=max_steps), keys)
        return stats

    @torch.no_grad()
    def members_predict(self, designs: Sequence[str], chunk: int = 4096,
                        calibrated: bool = True) -> Tensor:
        """Every member's prediction (as ``model.posterior`` sees them).

        Args:
            designs: ``n`` SMILES strings.
            chunk: Designs featurized and evaluated at a time.
            calibrated: Apply the spread's calibration (False: the raw members).

        Returns:
            A `s x n` float64 tensor in the units of ``y``.
        """
        designs = list(designs)
        model = self.model
        previous, model.calibrated = model.calibrated, calibrated
        try:
            parts = [model(self.features(designs[i:i + chunk]))[..., 0]
                     for i in range(0, len(designs), chunk)]
        finally:
            model.calibrated = previous
        if not parts:
            return torch.zeros(model.members, 0, dtype=torch.float64)
        return torch.cat(parts, dim=-1)

    def predict(self, designs: Sequence[str], calibrated: bool = True) -> tuple[Tensor, Tensor]:
        """Ensemble mean and standard deviation.

        The std is the unbiased sample std over the (calibrated) members, as
        ``EnsemblePosterior.variance``; calibrated, it is ``sqrt(a s^2 + b)`` in units of ``y``.

        Args:
            designs: ``n`` SMILES strings.
            calibrated: Apply the spread's calibration (False: the raw member spread).

        Returns:
            ``(mean, std)``, each a `n` float64 tensor in the units of ``y``.
        """
        values = self.members_predict(designs, calibrated=calibrated)
        if values.shape[0] < 2:
            return values.mean(0), torch.zeros_like(values[0])
        return values.mean(0), values.std(0)

    def state_dict(self) -> dict[str, Any]:
        """A checkpoint of plain Python values and CPU tensors (``torch.save`` it).

        The featurizer is not saved, only described (``featurizer``) for the record: the
        caller rebuilds it from its own config.
        """
        model = self.model
        describe = getattr(self.featurizer, "config", None)
        return {
            "format": STATE_FORMAT,
            "config": self.config.model_dump(),
            "in_dim": int(getattr(model.net, "in_dim", self.featurizer.dim)),
            "y_mean": float(model.y_mean),
            "y_std": float(model.y_std),
            "net": {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()},
            "calibration": asdict(model.calibration),
            "featurizer": describe() if callable(describe) else repr(self.featurizer),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint from ``state_dict`` (replaces ``config`` and the model).

        Args:
            state: The dictionary returned by ``state_dict``.
        """
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not an EnsembleSurrogate checkpoint: {state.get('format')!r}")
        self.config = EnsembleConfig(**state["config"])
        net = self.make_net(int(state["in_dim"]))
        net.load_state_dict(state["net"])
        net = net.to(_load_device(self.config.device))
        calibration = VarianceMap(**state.get("calibration", {}))  # absent in older checkpoints
        self._model = MLPEnsembleModel(net, state["y_mean"], state["y_std"], calibration).eval()
