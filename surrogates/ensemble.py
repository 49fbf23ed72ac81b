"""The surrogate: an MLP ensemble over design features, exposed as a BoTorch ``EnsembleModel``.

``EnsembleSurrogate`` owns the featurizer, fits the vectorised ensemble on standardised
labels, and hands out ``MLPEnsembleModel``, whose ``posterior(X)`` is BoTorch's
``EnsemblePosterior`` over the members' predictions in the original units of ``y``, so
BoTorch's Monte Carlo acquisitions run on it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from botorch.models.ensemble import EnsembleModel
from torch import Tensor

from .featurizers import Featurizer
from .mlp import VectorisedMLPEnsemble, train_ensemble

__all__ = ["EnsembleConfig", "EnsembleSurrogate", "MLPEnsembleModel", "VectorisedMLPEnsemble"]

#: Version tag of ``EnsembleSurrogate.state_dict()`` checkpoints.
STATE_FORMAT = "sciloop.surrogates.EnsembleSurrogate/1"


@dataclass
class EnsembleConfig:
    """Hyper-parameters of the MLP ensemble.

    Attributes:
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
    """

    members: int = 5
    hidden: int = 256
    layers: int = 2
    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    bootstrap: bool = True
    dropout: float = 0.0
    seed: int = 0


class MLPEnsembleModel(EnsembleModel):
    """A BoTorch ensemble model over feature rows; predictions in the original units of ``y``.

    The network computes in its own dtype (float32); outputs are cast to the dtype of ``X``.

    Example:
        >>> posterior = model.posterior(X)  # `X`: `b x q x d`
        >>> posterior.values.shape          # `b x s x q x 1`
    """

    def __init__(self, net: VectorisedMLPEnsemble, y_mean: float, y_std: float) -> None:
        """Wrap a trained ensemble.

        Args:
            net: The trained vectorised ensemble (predicts standardised ``y``).
            y_mean: Mean of the training labels.
            y_std: Standard deviation of the training labels (the standardisation scale).
        """
        super().__init__()
        self.net = net
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
        out = self.net(X.reshape(-1, d))  # `s x (B * n)`
        out = out.to(X.dtype) * self.y_std.to(X.dtype) + self.y_mean.to(X.dtype)
        s = out.shape[0]
        out = out.reshape(s, -1, n).transpose(0, 1)  # `B x s x n`
        return out.reshape(*batch, s, n, 1)


class EnsembleSurrogate:
    """Featurizer + MLP ensemble: fit on labelled designs, predict, hand out a BoTorch model.

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

    def fit(self, designs: Sequence[str], y: Sequence[float]) -> dict[str, float]:
        """Fit a fresh ensemble on labelled designs (labels are standardised internally).

        Args:
            designs: ``n >= 2`` SMILES strings (all must featurize; filter failures first).
            y: ``n`` finite labels (larger is better for the acquisitions).

        Returns:
            ``train_loss`` (standardised units), ``train_rmse`` (of the ensemble mean, in
            units of ``y``), ``fit_seconds`` (wall), ``fit_cpu_seconds``, ``steps``, ``n_train``.
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
        net = VectorisedMLPEnsemble(X.shape[-1], cfg.members, cfg.hidden, cfg.layers,
                                    cfg.dropout, cfg.seed)
        stats = train_ensemble(net, X, (Y - y_mean) / y_std, epochs=cfg.epochs, lr=cfg.lr,
                               weight_decay=cfg.weight_decay, batch_size=cfg.batch_size,
                               bootstrap=cfg.bootstrap, seed=cfg.seed)
        stats["train_rmse"] *= y_std
        stats["n_train"] = float(len(designs))
        self._model = MLPEnsembleModel(net, y_mean, y_std).eval()
        return stats

    @torch.no_grad()
    def members_predict(self, designs: Sequence[str], chunk: int = 4096) -> Tensor:
        """Every member's prediction.

        Args:
            designs: ``n`` SMILES strings.
            chunk: Designs featurized and evaluated at a time.

        Returns:
            A `s x n` float64 tensor in the units of ``y``.
        """
        designs = list(designs)
        model = self.model
        parts = [model(self.features(designs[i:i + chunk]))[..., 0]
                 for i in range(0, len(designs), chunk)]
        if not parts:
            return torch.zeros(model.members, 0, dtype=torch.float64)
        return torch.cat(parts, dim=-1)

    def predict(self, designs: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Ensemble mean and standard deviation.

        The std is the unbiased sample std over members (as ``EnsemblePosterior.variance``).

        Args:
            designs: ``n`` SMILES strings.

        Returns:
            ``(mean, std)``, each a `n` float64 tensor in the units of ``y``.
        """
        values = self.members_predict(designs)
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
            "config": asdict(self.config),
            "in_dim": model.net.in_dim,
            "y_mean": float(model.y_mean),
            "y_std": float(model.y_std),
            "net": {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()},
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
        cfg = self.config
        net = VectorisedMLPEnsemble(int(state["in_dim"]), cfg.members, cfg.hidden, cfg.layers,
                                    cfg.dropout, cfg.seed)
        net.load_state_dict(state["net"])
        self._model = MLPEnsembleModel(net, state["y_mean"], state["y_std"]).eval()
