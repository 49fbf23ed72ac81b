"""The domain plug point: what a design is, as a small interface and a registry (`domain:` in config).

A domain bundles the canonical key and validity of a design, the initial designs, the GFlowNet's
environment, the surrogate's featurizer and the similarity used for diversity and selection.
Registered: `molecule` (`pipeline/domain.py`: SMILES, SELFIES environment, Morgan fingerprints,
Tanimoto) and `sequence` (`pipeline/domain_sequence.py`: an alphabet and a length, token
environment, one-hot or token featurizer, Hamming). A new domain is one new file plus one line in
`DOMAINS`; or, without touching sciloop, `domain: {name: my_module:MyDomain, ...}`, built as
`MyDomain(config)` (the campaign config; its settings are `config.domain`) and declaring its
settings model (`Settings`, else free-form keys), its surrogate inputs (`inputs`) and the proposers
it serves (`proposers`, None: all) as class attributes.

Light to import: a domain's module (rdkit, torch) loads when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ConfigDict, ValidationError

from sciloop.pipeline.domain_sequence import SequenceSettings
from sciloop.pipeline.domain_settings import DomainSettings
from sciloop.surrogates.plugins import check_name, import_class

if TYPE_CHECKING:
    import numpy as np

    from sciloop.pipeline.config import CampaignConfig
    from sciloop.proposers.sequence_env import SequenceEnv
    from sciloop.surrogates.featurizers import Featurizer

__all__ = ["DOMAINS", "Domain", "DomainEntry", "DomainSettings", "check_domain", "domain_entry",
           "make_domain", "parse_domain", "select_diverse"]


class _PluginSettings(DomainSettings):
    """Settings of a `module:Class` domain that declares no `Settings` model: any keys."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)


class Domain(Protocol):
    """A design space. Designs cross package boundaries as plain strings.

    Optional, for showing designs: `picture(designs, scores, k)` (the k best as a PIL image or a
    matplotlib figure, logged to MLflow each round) and `drawing(design)` (inline SVG for
    `sciloop report`); without them a design is shown as its text.

    Attributes:
        name: the domain's name (as in config).
        initial_source: the ledger's `source` of the initial screen (e.g. "library:nci").
    """

    name: str
    initial_source: str

    def canonical(self, design: str) -> str | None:
        """The ledger key of `design`; None when it is not a valid design (never raises)."""
        ...

    def invalid_reason(self, design: str) -> str | None:
        """Why `design` is not a valid design; None when it is (never raises)."""
        ...

    def initial_designs(self) -> list[str]:
        """The designs the initial screen draws from (canonical, distinct), also the proposer's corpus."""
        ...

    def environment(self, library: Sequence[str], max_len: int) -> SequenceEnv:
        """The GFlowNet's environment (token sequences whose `to_designs` gives designs).

        Args:
            library: the initial designs (a molecule alphabet is read off them).
            max_len: `proposer.max_len` (the molecule's SELFIES tokens; a sequence has its own length).
        """
        ...

    def featurizer(self, member: str) -> Featurizer:
        """What surrogate member `member` reads (`surrogates.members.member_inputs`)."""
        ...

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """`n x m` similarities in `[0, 1]` (1 - distance) for diversity, novelty and selection."""
        ...


@dataclass(frozen=True)
class DomainEntry:
    """A registered domain.

    Attributes:
        settings: its settings model (`domain:` in config).
        build: `(config) -> Domain`, given the campaign config.
        inputs: what its featurizers give a surrogate (`surrogates.members.Member.inputs`).
        proposers: the `proposer.name`s it serves (None: all).
    """

    settings: type[DomainSettings]
    build: Callable[[CampaignConfig], Domain]
    inputs: tuple[str, ...]
    proposers: tuple[str, ...] | None = None


def _molecule(config: CampaignConfig) -> Domain:
    from sciloop.pipeline.domain import MoleculeDomain
    return MoleculeDomain(config)


def _sequence(config: CampaignConfig) -> Domain:
    from sciloop.pipeline.domain_sequence import SequenceDomain
    return SequenceDomain(config)


DOMAINS: dict[str, DomainEntry] = {
    "molecule": DomainEntry(DomainSettings, _molecule, ("vectors", "fingerprints", "graphs")),
    "sequence": DomainEntry(SequenceSettings, _sequence, ("vectors", "tokens"),
                            ("gflownet", "screening", "sequence_offspring")),
}


def check_domain(name: str) -> str:
    """`name` if it is registered or a `module:Class` path, else a ValueError listing the names."""
    return check_name(name, DOMAINS, "domain")


def domain_entry(name: str) -> DomainEntry:
    """The registry entry of `name`; a `module:Class` domain's is read off its class attributes."""
    if name in DOMAINS:
        return DOMAINS[name]
    cls = import_class(check_domain(name), "domain")
    inputs = getattr(cls, "inputs", ("vectors",))
    proposers = getattr(cls, "proposers", None)
    return DomainEntry(getattr(cls, "Settings", _PluginSettings), cls,
                       (inputs,) if isinstance(inputs, str) else tuple(inputs),
                       None if proposers is None else tuple(proposers))


def parse_domain(value: Any) -> Any:
    """A config's `domain` (a name, or a mapping with `name`) as its domain's settings model.

    Raises:
        ValueError: an unknown name (listing the registered ones) or a bad setting.
    """
    if isinstance(value, DomainSettings) or not isinstance(value, (str, dict)):
        return value  # a settings object, or something pydantic refuses with its own message
    data = {"name": value} if isinstance(value, str) else dict(value)
    if "name" not in data:
        raise ValueError(f"a domain needs a name: one of {', '.join(DOMAINS)} or 'module:Class'")
    entry = domain_entry(str(data["name"]))
    try:
        return entry.settings.model_validate(data)
    except ValidationError as err:
        why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ValueError(f"domain {data['name']!r}: {why}") from None


def make_domain(config: CampaignConfig) -> Domain:
    """The domain `config.domain` names, built for the campaign `config`."""
    return domain_entry(config.domain.name).build(config)


def select_diverse(domain: Domain, values: Any, pool: Sequence[str], q: int, min_distance: float,
                   relaxed: list[int] | None = None, free: int = 0) -> list[int]:
    """Greedy top-`q` of `pool` by acquisition `values`, at least `min_distance` (1 - the domain's
    similarity) from every earlier pick (`surrogates.selection.select_by_similarity`, whose
    `relaxed` receives the picks that had to break it; the first `free` picks are the top `free`)."""
    from sciloop.surrogates.selection import select_by_similarity

    def nearest(i: int, picked: list[int]) -> float:
        return float(domain.similarity([pool[i]], [pool[j] for j in picked]).max())

    return select_by_similarity(values, len(pool), nearest, q, min_distance, relaxed, free)
