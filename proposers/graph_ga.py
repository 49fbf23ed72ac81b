"""Graph genetic algorithm (Jensen 2019, GB-GA) as the PMO benchmark ran it: an ask/tell baseline.

Operators follow `wenhao-gao/mol_opt` `main/graph_ga/` (crossover.py, mutate.py, run.py, config
`hparams_default.yaml`: population 120, offspring 70, mutation rate 0.067): ring and non-ring
cut-and-join crossover, seven reaction-SMARTS mutations, parents drawn with probability
proportional to score, population = best of (population + offspring). Deliberate differences
from that code (only the second and the last two can change a generation's distribution, barely):

- one seeded `numpy.random.Generator` replaces the unseeded global `random` / `np.random`;
- parents are kekulised as copies (the original kekulised the population's molecules in place,
  so its child-equals-parent test compared aromatic with Kekule SMILES after a parent's first use);
- only the chosen mutation's SMARTS is drawn (the original drew all seven, then picked one);
  `change_atom` samples its source element among those present, which is what the original's
  rejection loop does (without its endless loop on molecules that have none of them);
- for speed, candidates are checked in a random order until one passes (the original checked
  all, then drew one), `mol_ok` tests the size before sanitising, and a fragment join asks rdkit
  for its first product only (`maxProducts=1`, the same product the original kept);
- a generation is deduplicated on canonical SMILES (the ledger key);
- the first population is a random sample *without* replacement (the original drew with
  replacement from ZINC, where repeats are negligible; with a 5k pool they would waste slots).

Kept on purpose: the ring crossover joins the first cut with a double bond only (the original
resets its trial list inside the loop over the single/double join reactions), the random size cap
of `mol_ok` (N(39.15, 3.5) atoms) and the early stop on the top-100 mean (patience 5).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdChemReactions

Mol = Chem.Mol
_MINIMUM = 1e-10  # added to every score before normalising, as in mol_opt's run.py


@dataclass(frozen=True)
class GraphGAConfig:
    """Hyper-parameters of the graph GA (defaults: the PMO leaderboard's tuned values).

    Args:
        population_size: molecules kept between generations; also the mating-pool size.
        offspring_size: crossover (+ mutation) attempts per generation.
        mutation_rate: probability that a crossover child is mutated.
        seed: seed of the only random generator (same seed and scores -> same asks).
        patience: stop (ask returns `[]`) after this many generations in a row that raise the
            mean of the best 100 told scores by less than 1e-3; `None` never stops.
        initial: first population = a random sample of the pool (`"random"`, PMO's ZINC run)
            or its first entries (`"first"`, PMO's `--smi_file` run).
        size_mean: mean of the random heavy-atom cap of `mol_ok`.
        size_std: standard deviation of that cap.
        max_idle_generations: stop when this many generations in a row produce nothing new.
    """

    population_size: int = 120
    offspring_size: int = 70
    mutation_rate: float = 0.067
    seed: int = 0
    patience: int | None = 5
    initial: Literal["random", "first"] = "random"
    size_mean: float = 39.15
    size_std: float = 3.50
    max_idle_generations: int = 100


@cache
def _pattern(smarts: str) -> Mol:
    return Chem.MolFromSmarts(smarts)


@cache
def _reaction(smarts: str) -> rdChemReactions.ChemicalReaction:
    return rdChemReactions.ReactionFromSmarts(smarts)


def _pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _choice(rng: np.random.Generator, items: Sequence[str], p: Sequence[float]) -> str:
    return items[int(rng.choice(len(items), p=p))]


def _pick_ok(
    rng: np.random.Generator, mols: Sequence[Mol], ok: Callable[[Mol], bool]
) -> Mol | None:
    """A uniform choice among the `mols` that pass `ok` (None if none does).

    The original checks every candidate, then picks one; testing them in a random order and
    keeping the first that passes gives the same distribution (each check is independent of
    the order) at a fraction of the sanitisations.
    """
    for i in rng.permutation(len(mols)):
        if ok(mols[i]):
            return mols[i]
    return None


# ---------------------------------------------------------------- checks (crossover.py)


def ring_ok(mol: Mol) -> bool:
    """False for ring allenes, rings over 6 atoms and double bonds in 3/4-rings."""
    if not mol.HasSubstructMatch(_pattern("[R]")):
        return True
    ring_allene = mol.HasSubstructMatch(_pattern("[R]=[R]=[R]"))
    macro_cycle = max(len(r) for r in mol.GetRingInfo().AtomRings()) > 6
    small_double = mol.HasSubstructMatch(_pattern("[r3,r4]=[r3,r4]"))
    return not ring_allene and not macro_cycle and not small_double


def mol_ok(mol: Mol, rng: np.random.Generator, cfg: GraphGAConfig) -> bool:
    """True if `mol` has more than 5 atoms, fewer than a random cap, and sanitises (in place).

    The size test comes first (the original sanitised first): sanitising never changes the
    atom count, so the outcome is the same and too-large products skip the costly sanitisation.
    """
    target_size = cfg.size_std * rng.standard_normal() + cfg.size_mean
    if not 5 < mol.GetNumAtoms() < target_size:
        return False
    try:
        Chem.SanitizeMol(mol)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- crossover (crossover.py)


def _cut(mol: Mol, rng: np.random.Generator) -> tuple[Mol, ...] | None:
    matches = mol.GetSubstructMatches(_pattern("[*]-;!@[*]"))  # single bond not in a ring
    if not matches:
        return None
    a, b = _pick(rng, matches)
    bond = mol.GetBondBetweenAtoms(a, b).GetIdx()
    frags = Chem.FragmentOnBonds(mol, [bond], addDummies=True, dummyLabels=[(1, 1)])
    try:
        return Chem.GetMolFrags(frags, asMols=True, sanitizeFrags=True)
    except ValueError:
        return None


def _cut_ring(mol: Mol, rng: np.random.Generator) -> tuple[Mol, ...] | None:
    for _ in range(10):
        if rng.random() < 0.5:
            matches = mol.GetSubstructMatches(_pattern("[R]@[R]@[R]@[R]"))
            if not matches:
                return None
            m = _pick(rng, matches)
            pairs = ((m[0], m[1]), (m[2], m[3]))
        else:
            matches = mol.GetSubstructMatches(_pattern("[R]@[R;!D2]@[R]"))
            if not matches:
                return None
            m = _pick(rng, matches)
            pairs = ((m[0], m[1]), (m[1], m[2]))
        bonds = [mol.GetBondBetweenAtoms(x, y).GetIdx() for x, y in pairs]
        frags = Chem.FragmentOnBonds(mol, bonds, addDummies=True, dummyLabels=[(1, 1), (1, 1)])
        try:
            fragments = Chem.GetMolFrags(frags, asMols=True, sanitizeFrags=True)
        except ValueError:
            return None
        if len(fragments) == 2:
            return fragments
    return None


def _join(smarts: str, frags_a: Sequence[Mol], frags_b: Sequence[Mol]) -> list[Mol]:
    """First product of `smarts` on every fragment pair (pairs that do not react are skipped)."""
    rxn = _reaction(smarts)
    out = []
    for fa in frags_a:
        for fb in frags_b:
            try:
                products = rxn.RunReactants((fa, fb), 1)  # same first product, enumeration cut
            except (RuntimeError, ValueError):
                continue
            if products:
                out.append(products[0][0])
    return out


def _crossover_ring(a: Mol, b: Mol, rng: np.random.Generator, cfg: GraphGAConfig) -> Mol | None:
    ring = _pattern("[R]")
    if not a.HasSubstructMatch(ring) and not b.HasSubstructMatch(ring):
        return None
    close = ["([*:1]~[1*].[1*]~[*:2])>>[*:1]-[*:2]", "([*:1]~[1*].[1*]~[*:2])>>[*:1]=[*:2]"]
    for _ in range(10):
        frags_a, frags_b = _cut_ring(a, rng), _cut_ring(b, rng)
        if frags_a is None or frags_b is None:
            return None
        # As run in PMO: only the double-bond join of the first cut survives (see module doc).
        trial = _join("[*:1]~[1*].[1*]~[*:2]>>[*:1]=[*:2]", frags_a, frags_b)
        closed = []
        for smarts in close:
            rxn = _reaction(smarts)
            for m in trial:
                if mol_ok(m, rng, cfg):
                    try:
                        closed += [p[0] for p in rxn.RunReactants((m,))]
                    except (RuntimeError, ValueError):
                        continue
        child = _pick_ok(rng, closed, lambda m: mol_ok(m, rng, cfg) and ring_ok(m))
        if child is not None:
            return child
    return None


def _crossover_non_ring(a: Mol, b: Mol, rng: np.random.Generator, cfg: GraphGAConfig) -> Mol | None:
    for _ in range(10):
        frags_a, frags_b = _cut(a, rng), _cut(b, rng)
        if frags_a is None or frags_b is None:
            return None
        trial = _join("[*:1]-[1*].[1*]-[*:2]>>[*:1]-[*:2]", frags_a, frags_b)
        child = _pick_ok(rng, trial, lambda m: mol_ok(m, rng, cfg))
        if child is not None:
            return child
    return None


def crossover(a: Mol, b: Mol, rng: np.random.Generator, cfg: GraphGAConfig) -> Mol | None:
    """A child made of a fragment of `a` and one of `b` (ring or non-ring cut), or None.

    The parents are not modified. A child identical to a parent is rejected.
    """
    parent_smiles = {Chem.MolToSmiles(a), Chem.MolToSmiles(b)}
    a, b = Chem.Mol(a), Chem.Mol(b)
    try:
        Chem.Kekulize(a, clearAromaticFlags=True)
        Chem.Kekulize(b, clearAromaticFlags=True)
    except ValueError:
        pass
    for _ in range(10):
        op = _crossover_non_ring if rng.random() <= 0.5 else _crossover_ring
        child = op(a, b, rng, cfg)
        if child is not None and Chem.MolToSmiles(child) not in parent_smiles:
            return child
    return None


# ---------------------------------------------------------------- mutation (mutate.py)


def _insert_atom(rng: np.random.Generator, mol: Mol) -> str:
    bond = _choice(rng, ["single", "double", "triple"], [0.60, 0.35, 0.05])
    if bond == "single":
        return "[*:1]~[*:2]>>[*:1]X[*:2]".replace("X", _choice(rng, "CNOS", [0.25] * 4))
    if bond == "double":
        return "[*;!H0:1]~[*:2]>>[*:1]=X-[*:2]".replace("X", _choice(rng, "CN", [0.5, 0.5]))
    return "[*;!R;!H1;!H0:1]~[*:2]>>[*:1]#C-[*:2]"


def _change_bond_order(rng: np.random.Generator, mol: Mol) -> str:
    choices = ["[*:1]!-[*:2]>>[*:1]-[*:2]", "[*;!H0:1]-[*;!H0:2]>>[*:1]=[*:2]",
               "[*:1]#[*:2]>>[*:1]=[*:2]", "[*;!R;!H1;!H0:1]~[*:2]>>[*:1]#[*:2]"]
    return _choice(rng, choices, [0.45, 0.45, 0.05, 0.05])


def _delete_cyclic_bond(rng: np.random.Generator, mol: Mol) -> str:
    return "[*:1]@[*:2]>>([*:1].[*:2])"


def _add_ring(rng: np.random.Generator, mol: Mol) -> str:
    choices = [
        "[*;!r;!H0:1]~[*;!r:2]~[*;!r;!H0:3]>>[*:1]1~[*:2]~[*:3]1",
        "[*;!r;!H0:1]~[*!r:2]~[*!r:3]~[*;!r;!H0:4]>>[*:1]1~[*:2]~[*:3]~[*:4]1",
        "[*;!r;!H0:1]~[*!r:2]~[*:3]~[*:4]~[*;!r;!H0:5]>>[*:1]1~[*:2]~[*:3]~[*:4]~[*:5]1",
        ("[*;!r;!H0:1]~[*!r:2]~[*:3]~[*:4]~[*!r:5]~[*;!r;!H0:6]"
         ">>[*:1]1~[*:2]~[*:3]~[*:4]~[*:5]~[*:6]1"),
    ]
    return _choice(rng, choices, [0.05, 0.05, 0.45, 0.45])


def _delete_atom(rng: np.random.Generator, mol: Mol) -> str:
    choices = ["[*:1]~[D1:2]>>[*:1]", "[*:1]~[D2:2]~[*:3]>>[*:1]-[*:3]",
               "[*:1]~[D3:2](~[*;!H0:3])~[*:4]>>[*:1]-[*:3]-[*:4]",
               "[*:1]~[D4:2](~[*;!H0:3])(~[*;!H0:4])~[*:5]>>[*:1]-[*:3]-[*:4]-[*:5]",
               "[*:1]~[D4:2](~[*;!H0;!H1:3])(~[*:4])~[*:5]>>[*:1]-[*:3](-[*:4])-[*:5]"]
    return _choice(rng, choices, [0.25, 0.25, 0.25, 0.1875, 0.0625])


_ELEMENTS = ["#6", "#7", "#8", "#9", "#16", "#17", "#35"]
_ELEMENT_P = np.array([0.15, 0.15, 0.14, 0.14, 0.14, 0.14, 0.14])


def _change_atom(rng: np.random.Generator, mol: Mol) -> str | None:
    present = np.array([mol.HasSubstructMatch(_pattern(f"[{x}]")) for x in _ELEMENTS])
    if not present.any():
        return None
    p = _ELEMENT_P * present
    x = int(rng.choice(len(_ELEMENTS), p=p / p.sum()))
    others = _ELEMENT_P.copy()
    others[x] = 0.0
    y = int(rng.choice(len(_ELEMENTS), p=others / others.sum()))
    return f"[{_ELEMENTS[x]}:1]>>[{_ELEMENTS[y]}:1]"


def _append_atom(rng: np.random.Generator, mol: Mol) -> str:
    bond = _choice(rng, ["single", "double", "triple"], [0.60, 0.35, 0.05])
    if bond == "single":
        atom = _choice(rng, ["C", "N", "O", "F", "S", "Cl", "Br"], [1 / 7] * 7)
        return f"[*;!H0:1]>>[*:1]-{atom}"
    if bond == "double":
        return f"[*;!H0;!H1:1]>>[*:1]={_choice(rng, 'CNO', [1 / 3] * 3)}"
    return f"[*;H3:1]>>[*:1]#{_choice(rng, 'CN', [0.5, 0.5])}"


MUTATIONS = (_insert_atom, _change_bond_order, _delete_cyclic_bond, _add_ring,
             _delete_atom, _change_atom, _append_atom)
"""The seven mutation operators, in mol_opt's order; each returns a reaction SMARTS."""
_MUTATION_P = [0.15, 0.14, 0.14, 0.14, 0.14, 0.14, 0.15]


def mutate(mol: Mol, rate: float, rng: np.random.Generator, cfg: GraphGAConfig) -> Mol | None:
    """With probability `rate`, one random mutation of `mol` (None if 10 tries fail), else `mol`."""
    if rng.random() > rate:
        return mol
    mol = Chem.Mol(mol)
    try:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    except ValueError:
        return mol
    for _ in range(10):
        smarts = MUTATIONS[int(rng.choice(len(MUTATIONS), p=_MUTATION_P))](rng, mol)
        if smarts is None:
            continue
        products = [p[0] for p in _reaction(smarts).RunReactants((mol,))]
        child = _pick_ok(rng, products, lambda m: mol_ok(m, rng, cfg) and ring_ok(m))
        if child is not None:
            return child
    return None


# ---------------------------------------------------------------- the GA loop (run.py)


def _canonical(mol: Mol) -> str | None:
    """Canonical SMILES as the ledger computes it (parse -> write), or None if it does not parse."""
    try:
        again = Chem.MolFromSmiles(Chem.MolToSmiles(mol))
    except (RuntimeError, ValueError):
        return None
    return None if again is None else Chem.MolToSmiles(again)


class GraphGA:
    """Ask/tell graph GA: each `ask` is one generation's new designs, `tell` returns their scores.

    The first `ask` returns the initial population: `population_size` distinct valid molecules
    drawn at random from `initial` (or its first ones, `config.initial="first"`), all of which
    are to be scored and count against the budget, as in PMO (which scores a random sample of
    `population_size` ZINC molecules, not the whole pool). Each later `ask` breeds
    `offspring_size` children from a mating pool of `population_size` parents drawn with
    probability proportional to score, and returns the canonical children never told before;
    children already told are scored from memory (a repeated molecule costs nothing) and a
    generation with nothing new is closed at once. The population then becomes the best
    `population_size` of population + offspring. Designs asked but not told before the next
    `ask` are dropped from their generation. `ask` returns `[]` once the GA stops (patience on
    the top-100 mean, or `max_idle_generations` generations without a new molecule).

    Scores should be non-negative (PMO objectives lie in [0, 1]): negative and non-finite scores
    get zero mating weight, and non-finite ones rank last.

    Args:
        initial: the starting pool (SMILES; invalid ones are skipped).
        config: hyper-parameters; `GraphGAConfig()` by default.

    >>> ga = GraphGA(["CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1", "c1ccc2ccccc2c1"],
    ...              GraphGAConfig(population_size=3, offspring_size=4))
    >>> first = ga.ask()
    >>> ga.tell(first, [1.0, 0.5, 0.2])
    >>> set(ga.ask()).isdisjoint(first)
    True
    """

    def __init__(self, initial: Sequence[str], config: GraphGAConfig | None = None) -> None:
        self.config = config or GraphGAConfig()
        if self.config.population_size < 1 or self.config.offspring_size < 1:
            raise ValueError("population_size and offspring_size must be positive")
        if self.config.initial not in ("random", "first"):
            raise ValueError(f"initial must be 'random' or 'first', not {self.config.initial!r}")
        self._pool = list(initial)
        self._rng = np.random.default_rng(self.config.seed)
        self._scores: dict[str, float] = {}  # every told design -> score
        self._finite_sorted: list[float] = []  # finite told scores, ascending
        self._population: list[tuple[str, Mol]] = []  # best first
        self._open: dict[str, Mol] = {}  # the open generation: population + new offspring
        self._old_top100: float | None = None  # top-100 mean when the generation opened
        self._pending: set[str] = set()
        self._started = False
        self._patience = 0
        self._idle = 0
        self.generation = 0
        """Generations closed so far (the initial population counts as the first)."""
        self.stopped: str | None = None
        """Why the GA stopped (then `ask` returns `[]`), or None while it runs."""

    # ------------------------------------------------------------ public interface

    def ask(self) -> list[str]:
        """Returns the next designs to score: canonical SMILES, distinct, never told before."""
        with rdBase.BlockLogs():
            if self._open:
                self._close_generation()
            if not self._started:
                self._started = True
                self._open_generation(self._initial_population(), old_top100=None)
                if self._pending:
                    return [s for s in self._open if s in self._pending]
                self._close_generation()
            while self.stopped is None:
                if not self._population:
                    self.stopped = "no design of the initial population was told"
                    break
                self._open_generation(self._breed(), old_top100=self._top100())
                if self._pending:
                    self._idle = 0
                    return [s for s in self._open if s in self._pending]
                self._idle += 1
                self._close_generation()
                if self._idle >= self.config.max_idle_generations and self.stopped is None:
                    self.stopped = f"{self._idle} generations in a row bred nothing new"
            return []

    def tell(self, designs: Sequence[str], scores: Sequence[float]) -> None:
        """Records scores (the first score of a design is kept); closes the generation when
        every design it asked has been told."""
        if len(designs) != len(scores):
            raise ValueError(f"{len(designs)} designs but {len(scores)} scores")
        for design, score in zip(designs, scores):
            key = design if design in self._pending else self._canonical_smiles(design)
            if key is None or key in self._scores:
                continue
            value = float(score)
            self._scores[key] = value
            if np.isfinite(value):
                bisect.insort(self._finite_sorted, value)
            self._pending.discard(key)
        if self._open and not self._pending:
            self._close_generation()

    @property
    def population(self) -> list[tuple[str, float]]:
        """The current population as (SMILES, score), best first."""
        return [(s, self._scores[s]) for s, _ in self._population]

    @property
    def n_told(self) -> int:
        """Number of distinct designs told so far."""
        return len(self._scores)

    # ------------------------------------------------------------ generations

    def _canonical_smiles(self, smiles: str) -> str | None:
        mol = Chem.MolFromSmiles(smiles)
        return None if mol is None else Chem.MolToSmiles(mol)

    def _initial_population(self) -> dict[str, Mol]:
        n = len(self._pool)
        order = range(n) if self.config.initial == "first" else self._rng.permutation(n)
        chosen: dict[str, Mol] = {}
        for i in order:
            mol = Chem.MolFromSmiles(self._pool[int(i)])
            smiles = None if mol is None else _canonical(mol)
            if smiles is not None and smiles not in chosen:
                chosen[smiles] = mol
                if len(chosen) == self.config.population_size:
                    break
        if not chosen:
            raise ValueError("the initial pool holds no valid molecule")
        return chosen

    def _breed(self) -> dict[str, Mol]:
        cfg, rng = self.config, self._rng
        raw = np.array([self._scores[s] for s, _ in self._population], dtype=float)
        weights = np.where(np.isfinite(raw), np.maximum(raw, 0.0), 0.0) + _MINIMUM
        mating_pool = rng.choice(len(self._population), size=cfg.population_size,
                                 p=weights / weights.sum())
        members = dict(self._population)
        for _ in range(cfg.offspring_size):
            a = self._population[int(_pick(rng, mating_pool))][1]
            b = self._population[int(_pick(rng, mating_pool))][1]
            child = crossover(a, b, rng, cfg)
            if child is not None:
                child = mutate(child, cfg.mutation_rate, rng, cfg)
            smiles = None if child is None else _canonical(child)
            if smiles is not None and smiles not in members:
                members[smiles] = child
        return members

    def _open_generation(self, members: dict[str, Mol], old_top100: float | None) -> None:
        self._open = members
        self._old_top100 = old_top100
        self._pending = {s for s in members if s not in self._scores}

    def _close_generation(self) -> None:
        told = [(s, m) for s, m in self._open.items() if s in self._scores]
        told.sort(key=lambda sm: self._rank(self._scores[sm[0]]), reverse=True)  # stable
        if told:
            self._population = told[: self.config.population_size]
        self._open, self._pending = {}, set()
        self.generation += 1
        if self._old_top100 is None or self.config.patience is None or self.n_told <= 100:
            return
        if self._top100() - self._old_top100 < 1e-3:
            self._patience += 1
            if self._patience >= self.config.patience:
                self.stopped = f"top-100 mean flat for {self._patience} generations"
        else:
            self._patience = 0

    def _top100(self) -> float:
        """Mean of the best 100 told scores (0 while at most 100 are told, as in mol_opt)."""
        if self.n_told <= 100 or not self._finite_sorted:
            return 0.0
        return float(np.mean(self._finite_sorted[-100:]))

    @staticmethod
    def _rank(score: float) -> float:
        return score if np.isfinite(score) else -np.inf
