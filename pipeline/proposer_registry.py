"""The proposer plug point: a registry of builders (`proposer.name` in config).

Each entry builds a `proposers.base.Proposer` from the campaign config and the library of initial
designs. Registered: `gflownet`, `genetic`, `gflownet+genetic`, `offspring`, `sequence_offspring`,
`screening`. A new proposer is one new file plus one line in `PROPOSERS`; or, without touching
sciloop, `proposer.name: my_module:MyProposer`, built as `MyProposer(config, library)` (the
campaign config and the initial designs).

Light to import: a proposer's module (rdkit, torch) loads when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sciloop.surrogates.plugins import check_name, import_class

if TYPE_CHECKING:
    from sciloop.pipeline.config import CampaignConfig, ProposerConfig
    from sciloop.proposers.base import Proposer
    from sciloop.proposers.gflownet import GFlowNetProposer

__all__ = ["PROPOSERS", "Pretrain", "ProposerEntry", "check_proposer", "make_gflownet", "make_proposer",
           "proposer_entry"]

Pretrain = Callable[["GFlowNetProposer", int], None]
"""Runs `proposer.pretrain(steps)`, e.g. behind a progress bar."""


@dataclass(frozen=True)
class ProposerEntry:
    """A registered proposer.

    Attributes:
        build: `(config, library, pretrain) -> Proposer`; `pretrain` is None on a resume (the
            checkpoint holds the trained weights).
        description: one line for the config reference.
        steps: its training steps per round, read from `config.proposer` (the progress bar's length).
        actors: it places Ray actors with `proposer.actor_*` resources (checked before any call).
        domains: the domains it can build for (None: any whose environment it uses); a config
            pairing it with another is refused at validation, before anything is paid.
    """

    build: Callable[[CampaignConfig, Sequence[str], Pretrain | None], Proposer]
    description: str
    steps: Callable[[ProposerConfig], int] = lambda pc: pc.steps
    actors: bool = False
    domains: tuple[str, ...] | None = None


def make_gflownet(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> GFlowNetProposer:
    """The GFlowNet proposer: from the shipped prior if `proposer.prior_checkpoint`, else on the
    domain's environment over the library; pretrained on the library if asked."""
    from sciloop.pipeline.domains import make_domain
    from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer

    pc = config.proposer
    gcfg = GFlowNetConfig(batch_size=pc.batch_size, objective=pc.objective, subtb_lambda=pc.subtb_lambda,
                          munchausen_alpha=pc.munchausen_alpha, lr=pc.lr, epsilon=pc.epsilon,
                          replay_fraction=pc.replay_fraction, max_len=pc.max_len, hidden=pc.hidden,
                          num_actors=pc.num_actors, actor_num_cpus=pc.actor_num_cpus,
                          actor_num_gpus=pc.actor_num_gpus, actor_resources=dict(pc.actor_resources),
                          prior_weight=pc.prior_weight if pc.pretrain_steps or pc.prior_checkpoint else 0.0,
                          seed=config.seed, device=pc.device)
    if pc.prior_checkpoint:  # the shipped prior: no pretraining per campaign
        proposer = GFlowNetProposer.from_prior(pc.prior_checkpoint, gcfg, corpus=library)
    else:
        proposer = GFlowNetProposer(make_domain(config).environment(library, pc.max_len), gcfg, corpus=library)
    if pretrain is not None and pc.pretrain_steps:
        pretrain(proposer, pc.pretrain_steps)
    return proposer


def _genetic(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> Proposer:
    from sciloop.proposers.genetic import GeneticConfig, GeneticProposer

    return GeneticProposer(list(library), GeneticConfig(seed=config.seed))


def _mixture(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> Proposer:
    from sciloop.proposers.genetic import MixtureProposer

    pc = config.proposer
    return MixtureProposer(
        {"gflownet": make_gflownet(config, library, pretrain), "genetic": _genetic(config, library, None)},
        {"gflownet": 1 - pc.genetic_fraction, "genetic": pc.genetic_fraction},
        {"gflownet": pc.steps, "genetic": pc.genetic_generations})


def _offspring(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> Proposer:
    from sciloop.proposers.offspring import OffspringConfig, OffspringProposer

    pc = config.proposer
    return OffspringProposer(OffspringConfig(children=pc.offspring_children, seed=config.seed,
                                             workers=pc.num_actors, mutate_fraction=pc.offspring_mutate_fraction,
                                             immigrant_fraction=pc.offspring_immigrant_fraction), library)


def _sequence_offspring(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> Proposer:
    from sciloop.pipeline.domain_sequence import SequenceSettings
    from sciloop.proposers.sequence_offspring import SequenceOffspringConfig, SequenceOffspringProposer

    pc, domain = config.proposer, config.domain
    if not isinstance(domain, SequenceSettings):
        raise ValueError(f"proposer sequence_offspring breeds sequences, not {domain.name} designs")
    return SequenceOffspringProposer(SequenceOffspringConfig(
        alphabet=domain.alphabet, length=domain.length, min_length=domain.min_length,
        children=pc.offspring_children, mutate_fraction=pc.offspring_mutate_fraction, seed=config.seed))


def _screening(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> Proposer:
    from sciloop.proposers.screening import ScreeningProposer

    return ScreeningProposer(list(library), seed=config.seed + 1)


PROPOSERS: dict[str, ProposerEntry] = {
    "gflownet": ProposerEntry(make_gflownet, "a GFlowNet on the reward, its samplers on Ray actors", actors=True),
    "genetic": ProposerEntry(_genetic, "Jensen's graph GA bred on the reward, seeded with the best labels",
                             lambda pc: pc.genetic_generations),
    "gflownet+genetic": ProposerEntry(_mixture, "each pool split between the two by genetic_fraction",
                                      actors=True),
    "offspring": ProposerEntry(_offspring, (
        "children of the replay_top best labelled designs, parents drawn as Mol GA draws them, "
        "screened by the reward"), lambda pc: 1),
    "sequence_offspring": ProposerEntry(_sequence_offspring, (
        "sequences: crossovers and point mutations of the replay_top best labelled designs, parents "
        "drawn as Mol GA draws them, screened by the reward"), lambda pc: 1, domains=("sequence",)),
    "screening": ProposerEntry(_screening, "the library in a seeded random order, pass after pass"),
}


def check_proposer(name: str) -> str:
    """`name` if it is registered or a `module:Class` path, else a ValueError listing the names."""
    return check_name(name, PROPOSERS, "proposer")


def proposer_entry(name: str) -> ProposerEntry:
    """The registry entry of `name`; a `module:Class` proposer's is read off its class: built as
    `Class(config, library)`, trained `proposer.steps` steps a round, `actors = True` when it
    places Ray actors with the `proposer.actor_*` resources."""
    if name in PROPOSERS:
        return PROPOSERS[name]
    cls = import_class(check_proposer(name), "proposer")
    return ProposerEntry(lambda config, library, pretrain: cls(config, list(library)), cls.__doc__ or name,
                         actors=bool(getattr(cls, "actors", False)))


def make_proposer(config: CampaignConfig, library: Sequence[str], pretrain: Pretrain | None) -> Proposer:
    """The proposer `config.proposer.name` names, over `library`.

    Args:
        pretrain: called to pretrain a fresh GFlowNet (`proposer.pretrain_steps` > 0); None on a
            resume, where the checkpoint holds the trained weights.
    """
    return proposer_entry(config.proposer.name).build(config, library, pretrain)
