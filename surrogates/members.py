"""The surrogate interface and a registry of the surrogate kinds (`surrogate.member` in config).

A kind is built as `build(featurizer, config)` and declares the inputs its featurizer must give
(`inputs`): "vectors" (fixed-width rows: fingerprints, one-hot sequences), "fingerprints"
(non-negative counts, for the Tanimoto kernel), "graphs" (`GraphFeaturizer`) or "tokens"
(`SequenceFeaturizer` token ids). A new kind is one new file plus one line in `MEMBERS`; or,
without touching sciloop, a `module:Class` import path named in config
(`surrogate.member: my_module:MySurrogate`), built as `Class(featurizer, config)`; a class
attribute `inputs` declares its inputs ("vectors" when absent).

Light to import: the kinds' modules (torch, botorch, gpytorch) load when one is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .plugins import check_name, import_class
from .settings import EnsembleConfig

if TYPE_CHECKING:
    from torch import Tensor

    from .featurizers import Featurizer

__all__ = ["MEMBERS", "MEMBER_KINDS", "Member", "Surrogate", "check_member", "make_surrogate", "member_inputs"]


class Surrogate(Protocol):
    """A surrogate: fitted on labelled designs, a BoTorch model over their features.

    `model.posterior(X)` is what the acquisitions read (an ensemble posterior or a Gaussian
    one); `features(designs)` gives the `n x d` rows `model` takes.
    """

    @property
    def model(self) -> Any:
        """The fitted BoTorch model over feature rows."""
        ...

    def features(self, designs: Sequence[str]) -> Tensor:
        """`n x d` feature rows of `n` designs (ValueError for a design that does not featurize)."""
        ...

    def fit(self, designs: Sequence[str], y: Sequence[float]) -> dict[str, float]:
        """Fit on labelled designs; returns the fit's statistics (e.g. `fit_seconds`)."""
        ...

    def predict(self, designs: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Predictive mean and std, each `n`, in the units of the labels."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """A checkpoint (plain values and CPU tensors)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint from `state_dict`."""
        ...


@dataclass(frozen=True)
class Member:
    """A registered surrogate kind.

    Attributes:
        build: `(featurizer, config) -> Surrogate`, unfitted.
        inputs: what the featurizer must give: "vectors", "fingerprints", "graphs" or "tokens".
    """

    build: Callable[[Featurizer, EnsembleConfig], Surrogate]
    inputs: str


def _ensemble(featurizer: Featurizer, config: EnsembleConfig) -> Surrogate:
    from .ensemble import EnsembleSurrogate
    return EnsembleSurrogate(featurizer, config)


def _gp(featurizer: Featurizer, config: EnsembleConfig) -> Surrogate:
    from .gp import TanimotoGPSurrogate
    return TanimotoGPSurrogate(featurizer, config)


MEMBERS: dict[str, Member] = {
    "mlp": Member(_ensemble, "vectors"),  # VectorisedMLPEnsemble (mlp.py)
    "gnn": Member(_ensemble, "graphs"),  # GINEEnsemble (gnn.py)
    "cnn": Member(_ensemble, "tokens"),  # CNNEnsemble (cnn.py): sequences only
    "gp": Member(_gp, "fingerprints"),  # TanimotoGPSurrogate (gp.py)
}
#: The registered names (config choices are derived from these).
MEMBER_KINDS = tuple(MEMBERS)


def check_member(name: str) -> str:
    """`name` if it is registered or a `module:Class` path, else a ValueError listing the names."""
    return check_name(name, MEMBERS, "surrogate member")


def member_inputs(name: str) -> str:
    """What the featurizer of kind `name` must give (a plugin's `inputs`, else "vectors")."""
    if name in MEMBERS:
        return MEMBERS[name].inputs
    return str(getattr(import_class(check_member(name), "surrogate member"), "inputs", "vectors"))


def make_surrogate(featurizer: Featurizer, config: EnsembleConfig | None = None) -> Surrogate:
    """The unfitted surrogate `config.member` names (an `EnsembleSurrogate`, the Tanimoto GP, or a
    `module:Class` plugin built as `Class(featurizer, config)`).

    Args:
        featurizer: Maps designs to `n x d` features (fingerprints for `gp`).
        config: The surrogate's settings (defaults if None).

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
    """
    config = config or EnsembleConfig()
    if config.member in MEMBERS:
        return MEMBERS[config.member].build(featurizer, config)
    return import_class(check_member(config.member), "surrogate member")(featurizer, config)
