"""Campaign configuration: YAML validated by pydantic, with `key.sub=value` overrides."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from sciloop.pipeline.domain_settings import DomainSettings
from sciloop.pipeline.proposer_registry import PROPOSERS, check_proposer
from sciloop.surrogates.settings import AcquisitionConfig, EnsembleConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OracleConfig(_Strict):
    """Which oracle scores designs and how it is placed on Ray."""

    target: str = Field("celecoxib_rediscovery", description=(
        "a built-in objective or plug-in name (see `sciloop oracles`) or an import path "
        "'module:attr' naming a function f(list[str]) -> list[float] or an Oracle object/class"))
    kwargs: dict[str, Any] = Field(default_factory=dict, description="arguments for a class target")
    num_cpus: float | None = Field(None, ge=0, description="CPUs per oracle call (None: the oracle's own)")
    num_gpus: float | None = Field(None, ge=0)
    timeout_s: float | None = Field(None, gt=0, description="seconds per call before it fails as 'timeout'")
    batch_size: int | None = Field(None, ge=1, description="designs per oracle call")
    idempotent: bool | None = Field(None, description="safe to call again for the same design (None: the oracle's own)")
    resources: dict[str, float] = Field(default_factory=dict, description="custom Ray resources per call")
    num_workers: int | None = Field(None, ge=1, description=(
        "the most oracle calls at once, e.g. licences (None: the oracle's own, else as many as the "
        "cluster's resources fit)"))
    setup_timeout_s: float = Field(600.0, gt=0, description=(
        "stop the campaign when no oracle worker is set up (actor started, the oracle's setup() "
        "done) after this many seconds"))
    max_consecutive_failures: int | None = Field(
        20, ge=1, description="stop the campaign after this many failures in a row")
    weights: list[float] | None = Field(None, description=(
        "multi-objective oracles: the surrogate learns sum(w_i * v_i) (None: the mean); the ledger keeps every v_i"))

    def scalarise(self, values: tuple[float, ...]) -> float:
        """One number from an oracle's score vector (what the surrogate learns)."""
        if self.weights is None:
            return sum(values) / len(values)
        if len(self.weights) != len(values):
            raise ConfigError(f"oracle.weights has {len(self.weights)} entries but the oracle "
                              f"returned {len(values)} objectives")
        return sum(w * v for w, v in zip(self.weights, values))


class InitialConfig(_Strict):
    """The first labelled set, screened from the initial designs and counted against the budget
    (molecules: `library`; sequences: `domain.initial_file` or random sequences)."""

    library: Literal["nci", "wehi", "moses", "zinc250k"] = "nci"
    size: int = Field(100, ge=2)
    library_size: int = Field(20_000, ge=100, description=(
        "molecules drawn from 'moses' or 'zinc250k' (the rdkit sets are used whole), or random sequences "
        "of a sequence domain without an initial_file (seeded by `seed`)"))


class SurrogateConfig(EnsembleConfig):
    """The surrogate (`surrogates.settings.EnsembleConfig`: an ensemble fit together in one process,
    MLPs on Morgan count fingerprints or GNNs, or a Tanimoto GP for small data), the fingerprints it
    reads, and where it is fitted."""

    num_threads: int | None = Field(1, ge=1, description=(
        "torch threads while fitting (None: torch's default; 2 threads were 9x slower on 2 busy cores)"))
    seed: int = Field(0, exclude=True, description="set per round from the campaign's seed")
    radius: int = Field(2, ge=1)
    n_bits: int = Field(2048, ge=64)
    fingerprints: Literal["morgan", "morgan+atom_pairs"] = Field("morgan", description=(
        "molecules: the fingerprints a fingerprint surrogate reads (n_bits each); with atom pairs a gp "
        "sums one Tanimoto kernel per fingerprint, weighted by its marginal likelihood"))
    placement: Literal["driver", "ray"] = Field("driver", description=(
        "driver: fit in the campaign's process; ray: fit in a Ray task with the resources below "
        "(all members in one task, vectorised)"))
    num_cpus: float = Field(1.0, gt=0, description="placement ray: CPUs of the fit task")
    num_gpus: float = Field(0.0, ge=0, description="placement ray: GPUs of the fit task")
    resources: dict[str, float] = Field(default_factory=dict, description="placement ray: custom Ray resources")


class ProposerConfig(_Strict):
    """The proposer: a GFlowNet on Ray actors, a graph GA on the reward, both, or screening."""

    name: str = Field("gflownet", description="; ".join(f"{k} ({v.description})" for k, v in PROPOSERS.items())
                      + "; or 'module:Class', built as Class(config, library)")
    steps: int = Field(200, ge=0, description="GFlowNet training steps per round")
    objective: str = Field("tb", description=(
        "the GFlowNet objective: tb, db, subtb, soft_dqn, mdqn (proposers/objective.py) or 'module:Class'"))
    subtb_lambda: float = Field(0.9, gt=0, description="objective subtb: geometric weight of sub-trajectories")
    munchausen_alpha: float = Field(0.0, ge=0, lt=1, description=(
        "objective soft_dqn: Munchausen weight (0: plain soft-DQN); mdqn takes 0.15 when 0"))
    batch_size: int = Field(64, ge=1, description="trajectories per training step")
    lr: float = Field(1e-3, gt=0)
    epsilon: float = Field(0.05, ge=0, le=1, description="uniform exploration mixed into sampling")
    replay_fraction: float = Field(0.25, ge=0, lt=1, description="share of each step replaying top labelled designs")
    replay_top: int = Field(64, ge=1, description=(
        "how many of the best labelled designs the proposer learns from: replayed by the GFlowNet "
        "(replay_fraction 0 turns replay off), the parents of the offspring proposers"))
    max_len: int = Field(40, ge=2, description="maximum SELFIES tokens per molecule")
    hidden: int = Field(256, ge=8)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description=(
        "the GFlowNet learner's device: auto (a visible CUDA device, else the CPU), cpu, cuda[:N]; "
        "trajectories are drawn on the CPU"))
    pretrain_steps: int = Field(300, ge=0, description=(
        "maximum-likelihood warm start on the library (after the prior checkpoint, if any)"))
    prior_checkpoint: str | None = Field(None, description=(
        "a pretrained policy (benchmarks/make_prior.py) to start from and use as the prior; "
        "a relative path is read from the config file's folder when the file is there"))
    prior_weight: float = Field(1.0, ge=0, description=(
        "target p(x) ~ p_prior(x)^w R(x), p_prior = the pretrained policy (0: plain TB on R)"))
    num_actors: int = Field(2, ge=0, description=(
        "Ray workers of the proposer: GFlowNet sampler actors, or offspring breeding tasks (0: in-process)"))
    actor_num_cpus: float = Field(0.5, gt=0)
    actor_num_gpus: float = Field(0.0, ge=0, description="GPUs per sampler actor (0.5: two actors share one)")
    actor_resources: dict[str, float] = Field(default_factory=dict, description="custom Ray resources per actor")
    pool_factor: int = Field(5, ge=1, description="pool size = pool_factor x batch size")
    genetic_generations: int = Field(20, ge=1, description="GA generations per round (genetic proposers)")
    genetic_fraction: float = Field(0.5, gt=0, lt=1, description="share of the pool bred by the GA (gflownet+genetic)")
    offspring_children: int = Field(1000, ge=1, description="offspring: crossovers per round, screened by the reward")
    offspring_mutate_fraction: float = Field(0.0, ge=0, le=1, description=(
        "offspring: share of children made by mutating one parent alone (Mol GA: 0.1)"))
    offspring_immigrant_fraction: float = Field(0.0, ge=0, le=1, description=(
        "offspring (molecules): share of crossovers whose second parent is a random library design "
        "(no oracle call): fragments no labelled design has"))

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, name: str) -> str:
        from sciloop.proposers.objective import check_objective

        return check_objective(name)

    @field_validator("name")
    @classmethod
    def _known_proposer(cls, name: str) -> str:
        return check_proposer(name)


class SelectionConfig(_Strict):
    """How the batch is picked from the pool."""

    min_distance: float = Field(0.2, ge=0, le=1, description=(
        "minimum distance between picks, 1 - the domain's similarity (molecules: Tanimoto on Morgan "
        "fingerprints; sequences: normalised Hamming); a pool with too few far-apart designs fills the "
        "batch with the best of the rest, counted as the round's selection_too_close"))
    greedy_fraction: float = Field(0.0, ge=0, le=1, description=(
        "share of the batch picked first, by acquisition alone (close picks allowed: they refine the "
        "best lineage); min_distance holds for the rest, from every pick, so they come from other "
        "lineages. 0: min_distance holds for all picks"))


class RayConfig(_Strict):
    address: str | None = Field(None, description=(
        "None: RAY_ADDRESS inside a Ray Job, else a private local Ray on 127.0.0.1 (never another "
        "cluster on the host); 'local' forces one; 'auto', host:port or ray://... joins a cluster"))
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local Ray (None: all)")


class TrackingConfig(_Strict):
    uri: str | None = Field(None, description="MLflow tracking URI (None: sqlite store in the run directory)")
    experiment: str = "sciloop"


class CampaignConfig(_Strict):
    """One active-learning campaign."""

    name: str = "campaign"
    seed: int = 0
    run_dir: str = Field("runs/campaign", description="ledger, MLflow store and checkpoints")
    domain: SerializeAsAny[DomainSettings] = Field(DomainSettings(name="molecule"), description=(
        "what a design is (pipeline/domains.py): molecule, {name: sequence, alphabet: ..., length: ...} "
        "or {name: 'module:Class', ...}"))
    rounds: int = Field(5, ge=1)
    batch_size: int = Field(100, ge=1, description="designs sent to the oracle per round")
    budget: int | None = Field(None, ge=1, description="maximum oracle calls (None: initial + rounds x batch)")
    initial: InitialConfig = InitialConfig()
    oracle: OracleConfig = OracleConfig()
    surrogate: SurrogateConfig = SurrogateConfig()
    acquisition: AcquisitionConfig = AcquisitionConfig()
    proposer: ProposerConfig = ProposerConfig()
    selection: SelectionConfig = SelectionConfig()
    ray: RayConfig = RayConfig()
    tracking: TrackingConfig = TrackingConfig()

    @field_validator("domain", mode="before")
    @classmethod
    def _known_domain(cls, value: Any) -> Any:
        from sciloop.pipeline.domains import parse_domain

        return parse_domain(value)

    @model_validator(mode="after")
    def _budget_fits(self) -> "CampaignConfig":
        if self.budget is not None and self.budget < self.initial.size + self.batch_size:
            raise ValueError(f"budget ({self.budget}) leaves no room for one batch after the initial "
                             f"screen (initial.size {self.initial.size} + batch_size {self.batch_size}): "
                             f"raise budget or lower initial.size / batch_size")
        if (self.surrogate.member == "gp" and not self.surrogate.gp_subsample
                and self.total_budget > self.surrogate.gp_max_labels):
            raise ValueError(f"surrogate.member=gp fits at most surrogate.gp_max_labels "
                             f"({self.surrogate.gp_max_labels}) labels but the budget is {self.total_budget}: "
                             f"use member=mlp or surrogate.gp_subsample=true for large campaigns")
        return self

    @model_validator(mode="after")
    def _parts_fit(self) -> "CampaignConfig":
        from sciloop.pipeline.domains import domain_entry
        from sciloop.surrogates.members import MEMBERS

        domain = domain_entry(self.domain.name)
        member, gives = self.surrogate.member, domain.inputs
        if member in MEMBERS and MEMBERS[member].inputs not in gives:
            fits = [name for name, m in MEMBERS.items() if m.inputs in gives]
            what = {"tokens": "token sequences from a SequenceFeaturizer", "graphs": "molecular graphs",
                    "fingerprints": "molecular fingerprints"}.get(MEMBERS[member].inputs, "feature rows")
            raise ValueError(
                f"surrogate.member={member} reads {MEMBERS[member].inputs} ({what}), which domain "
                f"{self.domain.name!r} does not give ({', '.join(gives)}): choose from {', '.join(fits)}")
        name, builtin = self.proposer.name, PROPOSERS.get(self.proposer.name)  # a module:Class is the user's call
        if builtin is not None and ((domain.proposers is not None and name not in domain.proposers)
                                    or (builtin.domains is not None and self.domain.name not in builtin.domains)):
            serve = [n for n, e in PROPOSERS.items() if (domain.proposers is None or n in domain.proposers)
                     and (e.domains is None or self.domain.name in e.domains)]
            raise ValueError(f"proposer.name={name} does not serve domain {self.domain.name!r}: "
                             f"choose from {', '.join(serve)} or give 'module:Class'")
        if self.proposer.prior_checkpoint is not None and self.domain.name != "molecule":
            raise ValueError(f"proposer.prior_checkpoint is a pretrained SELFIES policy (molecules), so a "
                             f"GFlowNet started from it proposes SMILES, which domain {self.domain.name!r} "
                             f"refuses: leave it out")
        if self.surrogate.fingerprints != "morgan" and self.domain.name != "molecule":
            raise ValueError(f"surrogate.fingerprints={self.surrogate.fingerprints} are molecular fingerprints, "
                             f"which domain {self.domain.name!r} does not give: leave it out")
        if "seed" in self.surrogate.model_fields_set:
            raise ValueError("surrogate.seed is set per round from the campaign's seed: leave it out")
        acq = self.acquisition
        if acq.seed is not None:
            raise ValueError("acquisition.seed is set per round from the campaign's seed: leave it out")
        return self

    @property
    def total_budget(self) -> int:
        return self.budget or self.initial.size + self.rounds * self.batch_size

    def to_yaml(self) -> str:
        """The resolved config as YAML (what the run directory and MLflow keep)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    #: keys that may change when a campaign is resumed (`sciloop resume RUN --budget N / --rounds N`)
    EXTENDABLE: ClassVar[tuple[str, ...]] = ("budget", "rounds")

    #: fields added after ledgers of the legacy digest forms were written (left out of those forms)
    ADDED_SINCE_LEGACY: ClassVar[dict[str, set[str]]] = {
        "oracle": {"num_workers", "setup_timeout_s"},
        "proposer": {"objective", "subtb_lambda", "munchausen_alpha", "offspring_children",
                     "offspring_mutate_fraction", "offspring_immigrant_fraction", "device"},
        "acquisition": {"pi_tau", "ei_tau", "mc_samples"},
        "surrogate": {"bootstrap", "dropout", "val_fraction", "gp_subsample", "warm_max_steps", "device",
                      "fingerprints"},
        "selection": {"greedy_fraction"}}

    def digest(self, legacy: bool | int = False) -> str:
        """A short hash of the resolved config (tags runs; detects edits on resume).

        Where the campaign runs (`ray`, the `device` of the learner and the surrogate, how many
        oracle calls at once and how long a worker's set-up may take), where
        its run directory lies (`run_dir`) and where it is logged (`tracking`: a laptop campaign
        may move to a shared MLflow server) are left out: a campaign started on a laptop may be
        resumed on a cluster or a GPU machine (and back), or from another working directory. So
        are `budget` and `rounds` (`EXTENDABLE`): a finished campaign may be extended. Settings at
        their default are left out too, so a new setting (with a default that keeps the old
        behaviour) never changes the digest of an existing campaign.
        `legacy`: the digest older ledgers hold (every setting); `1` (or True): before `run_dir`
        was left out; `2`: before `budget` and `rounds` were; `3`: before defaults were; `4`:
        before `tracking` was (2026-12-07).
        """
        legacy = int(legacy)
        if legacy in (0, 4):
            where = ("ray", "run_dir", *self.EXTENDABLE, *(("tracking",) if legacy == 0 else ()))
            exclude: dict[str, Any] = {k: True for k in where}
            exclude |= {section: {"device"} for section in ("proposer", "surrogate")}  # where, not what
            exclude["oracle"] = {"num_workers", "setup_timeout_s"}  # how many calls at once, how patiently
            data = self.model_dump(mode="json", exclude=exclude, exclude_defaults=True)
            data = {k: v for k, v in data.items() if not (k in ("proposer", "surrogate", "oracle") and v == {})}
        else:
            skip = {1: ("ray",), 2: ("ray", "run_dir"), 3: ("ray", "run_dir", *self.EXTENDABLE)}[legacy]
            exclude = {k: True for k in skip} | {k: set(v) for k, v in self.ADDED_SINCE_LEGACY.items()}
            data = self.model_dump(mode="json", exclude=exclude)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def digests(self) -> tuple[str, ...]:
        """Every digest a ledger of this config may hold: the current one first, then older forms."""
        return tuple(dict.fromkeys(self.digest(legacy=g) for g in (0, 4, 1, 2, 3)))


class ConfigError(ValueError):
    """A config that cannot run, with a message naming the key."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], value), the value parsed as YAML (`3`, `true`, `null`, `[1,2]`)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key.sub=value")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: the value is not valid YAML "
                          f"({' '.join(str(err).split())})") from None
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `data` with `key.sub=value` overrides applied (nested dicts created)."""
    data = json.loads(json.dumps(data))
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
        node[path[-1]] = value
    return data


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the config accepts in the section `loc` names (empty for a free-form dict)."""
    model: Any = CampaignConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields)


def _format_errors(err: ValidationError, source: str) -> str:
    import difflib

    lines = [f"invalid config ({source}):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        if e["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(e["loc"][-1]), _known_keys(tuple(e["loc"][:-1])), n=1)
            if close:
                msg += f"; did you mean {'.'.join([*map(str, e['loc'][:-1]), close[0]])!r}?"
        lines.append(f"  {key}: {msg}" + (f" (got {e['input']!r})" if e["type"] != "extra_forbidden"
                                         and not isinstance(e.get("input"), dict) else ""))
    return "\n".join(lines)


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None,
                **kw: Any) -> CampaignConfig:
    """Load a campaign config from a YAML path or a dict, apply overrides, validate.

    Raises:
        ConfigError: naming every bad key (unknown keys, wrong types, out-of-range values).
    """
    if isinstance(source, dict):
        data, name = source, "dict"
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        try:
            data, name = yaml.safe_load(path.read_text()) or {}, str(path)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys")
    data = apply_overrides(data, list(overrides or []) + [f"{k}={json.dumps(v)}" for k, v in kw.items()])
    try:
        config = CampaignConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, name)) from None
    initial_file = getattr(config.domain, "initial_file", None)  # a domain's file of initial designs
    if isinstance(initial_file, str) and not isinstance(source, dict) and not Path(initial_file).is_absolute():
        beside_config = path.parent / initial_file
        if beside_config.is_file():
            config.domain.initial_file = str(beside_config.resolve())  # type: ignore[attr-defined]
    prior = config.proposer.prior_checkpoint
    if prior is not None:
        beside = path.parent / prior if not isinstance(source, dict) else None
        found = beside if beside is not None and beside.is_file() else Path(prior)
        if not found.is_file():
            raise ConfigError(f"{name}: proposer.prior_checkpoint: no file {prior!r} "
                              "(make one with benchmarks/make_prior.py)")
        config.proposer.prior_checkpoint = str(found.resolve())
    return config
