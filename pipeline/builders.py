"""The campaign config turned into a round's surrogate parts: featurizer, settings, the fitted ensemble
(the proposer's builders are `pipeline/proposer_registry.py`).

Pure construction: nothing here touches the ledger or MLflow, so `Campaign` keeps the loop and
its bookkeeping and these stay testable on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from sciloop.pipeline.config import CampaignConfig
from sciloop.pipeline.domains import make_domain
from sciloop.surrogates.featurizers import Featurizer
from sciloop.surrogates.members import make_surrogate
from sciloop.surrogates.remote import Placement, fit_on_ray
from sciloop.surrogates.settings import AcquisitionConfig, EnsembleConfig

def surrogate_featurizer(config: CampaignConfig) -> Featurizer:
    """What the surrogate sees: the domain's featurizer for `surrogate.member`
    (`Domain.featurizer`; molecules: graphs for the GNN, else Morgan count fingerprints)."""
    return make_domain(config).featurizer(config.surrogate.member)


def ensemble_config(config: CampaignConfig, round_: int) -> EnsembleConfig:
    """The surrogate's settings of round `round_`: `config.surrogate` without the featurizer's and
    the placement's settings, seeded by the campaign's seed and the round."""
    own = set(EnsembleConfig.model_fields) - {"seed"}
    return EnsembleConfig(**config.surrogate.model_dump(include=own), seed=config.seed * 1000 + round_)


def round_acquisition(config: CampaignConfig, round_: int) -> AcquisitionConfig:
    """The acquisition settings of round `round_`: `config.acquisition` seeded by the campaign's
    seed and the round (the seed of the Thompson draw and of quasi-Monte Carlo samples)."""
    return config.acquisition.model_copy(update={"seed": config.seed * 1000 + round_})


def refits_warm(config: CampaignConfig) -> bool:
    """Whether each round refits the last round's surrogate (`surrogate.warm_max_steps`; MLP, GNN
    and GP surrogates fitted in this process) instead of a fresh one."""
    sc = config.surrogate
    return sc.warm_max_steps is not None and sc.member in ("mlp", "gnn", "gp") and sc.placement == "driver"


def fit_surrogate(config: CampaignConfig, featurizer: Featurizer, designs: Sequence[str], y: Sequence[float],
                  round_: int, previous: Any = None) -> tuple[Any, dict[str, float], dict[str, Any] | None]:
    """Fits the round's surrogate in this process, or in a Ray task (`surrogate.placement: ray`).

    With `surrogate.warm_max_steps`, a fit in this process continues from `previous` (the last
    round's surrogate, refitted in place) instead of starting afresh.

    Returns:
        The fitted surrogate (using `featurizer` here), the fit's statistics, and where a Ray
        task fitted it (`{"node", "worker", "gpus"}`; None in this process).
    """
    sc = config.surrogate
    ecfg = ensemble_config(config, round_)
    if refits_warm(config) and previous is not None:
        previous.config = ecfg  # this round's seed
        return previous, previous.fit(designs, y, warm=True), None
    surrogate = make_surrogate(featurizer, ecfg)
    if sc.placement == "driver":
        return surrogate, surrogate.fit(designs, y), None
    state, stats, where = fit_on_ray(partial(surrogate_featurizer, config), ecfg, designs, y,
                                     Placement(sc.num_cpus, sc.num_gpus, dict(sc.resources)))
    surrogate.load_state_dict(state)
    return surrogate, stats, where
