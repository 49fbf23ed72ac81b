"""The campaign config turned into a round's parts: the proposer, and the fitted surrogate.

Pure construction: nothing here touches the ledger or MLflow, so `Campaign` keeps the loop and
its bookkeeping and these stay testable on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sciloop.pipeline.config import CampaignConfig
from sciloop.pipeline.domains import make_domain
from sciloop.proposers.genetic import GeneticConfig, GeneticProposer, MixtureProposer
from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer
from sciloop.proposers.offspring import OffspringConfig, OffspringProposer
from sciloop.proposers.screening import ScreeningProposer
from sciloop.surrogates.featurizers import Featurizer
from sciloop.surrogates.members import make_surrogate
from sciloop.surrogates.remote import Placement, fit_on_ray
from sciloop.surrogates.settings import AcquisitionConfig, EnsembleConfig

Pretrain = Callable[[GFlowNetProposer, int], None]
"""Runs `proposer.pretrain(steps)`, e.g. behind a progress bar."""


def make_proposer(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> Any:
    """The proposer `config.proposer.name` names, over `library`.

    Args:
        pretrain: called to pretrain a fresh GFlowNet (`proposer.pretrain_steps` > 0); None on a
            resume, where the checkpoint holds the trained weights.
    """
    pc, seed = config.proposer, config.seed
    if pc.name == "screening":
        return ScreeningProposer(list(library), seed=seed + 1)
    if pc.name == "genetic":
        return GeneticProposer(list(library), GeneticConfig(seed=seed))
    if pc.name == "offspring":
        return OffspringProposer(OffspringConfig(children=pc.offspring_children, seed=seed, workers=pc.num_actors,
                                                 mutate_fraction=pc.offspring_mutate_fraction))
    gflownet = make_gflownet(config, library, pretrain)
    if pc.name == "gflownet":
        return gflownet
    return MixtureProposer(  # gflownet+genetic
        {"gflownet": gflownet, "genetic": GeneticProposer(list(library), GeneticConfig(seed=seed))},
        {"gflownet": 1 - pc.genetic_fraction, "genetic": pc.genetic_fraction},
        {"gflownet": pc.steps, "genetic": pc.genetic_generations})


def make_gflownet(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> GFlowNetProposer:
    """The GFlowNet proposer: from the shipped prior if `proposer.prior_checkpoint`, else on the
    library's alphabet; pretrained on the library if asked."""
    pc = config.proposer
    gcfg = GFlowNetConfig(batch_size=pc.batch_size, objective=pc.objective, subtb_lambda=pc.subtb_lambda,
                          munchausen_alpha=pc.munchausen_alpha, lr=pc.lr, epsilon=pc.epsilon,
                          replay_fraction=pc.replay_fraction, max_len=pc.max_len, hidden=pc.hidden,
                          num_actors=pc.num_actors, actor_num_cpus=pc.actor_num_cpus,
                          actor_num_gpus=pc.actor_num_gpus, actor_resources=dict(pc.actor_resources),
                          prior_weight=pc.prior_weight if pc.pretrain_steps or pc.prior_checkpoint else 0.0,
                          seed=config.seed)
    if pc.prior_checkpoint:  # the shipped prior: no pretraining per campaign
        proposer = GFlowNetProposer.from_prior(pc.prior_checkpoint, gcfg, corpus=library)
    else:
        proposer = GFlowNetProposer(make_domain(config).environment(library, pc.max_len), gcfg, corpus=library)
    if pretrain is not None and pc.pretrain_steps:
        pretrain(proposer, pc.pretrain_steps)
    return proposer


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
    warm = sc.warm_max_steps is not None and sc.member in ("mlp", "gnn") and sc.placement == "driver"
    if warm and previous is not None:
        previous.config = ecfg  # this round's seed
        return previous, previous.fit(designs, y, warm=True), None
    surrogate = make_surrogate(featurizer, ecfg)
    if sc.placement == "driver":
        return surrogate, surrogate.fit(designs, y), None
    state, stats, where = fit_on_ray(partial(surrogate_featurizer, config), ecfg, designs, y,
                                     Placement(sc.num_cpus, sc.num_gpus, dict(sc.resources)))
    surrogate.load_state_dict(state)
    return surrogate, stats, where
