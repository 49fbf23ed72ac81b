"""The SELFIES environment: token sequences of the core whose designs are SMILES.

A state is a prefix of SELFIES tokens (a `SequenceEnv` state); an action appends a token or
stops. Every state has exactly one parent (a tree), and any SELFIES string decodes to a
valid molecule.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

import selfies as sf
import torch
from rdkit import Chem, rdBase

from .sequence_env import SequenceEnv

ORGANIC_ELEMENTS: frozenset[str] = frozenset({"B", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})
"""Elements on which SELFIES' default valences agree with rdkit (Be, Al, As, Sn... do not)."""

_ELEMENT = re.compile(r"^\[[=#/\\]?\d*([A-Z][a-z]?)")


class SelfiesEnv(SequenceEnv):
    """SELFIES molecules of `1 .. max_len` tokens as a core `DiscreteEnv`.

    Actions `0 .. V-1` append `alphabet[a]`; action `V` stops (forced after `max_len`
    tokens). The first token must be an atom (not a branch or ring token, which SELFIES
    would skip), so no trajectory decodes to an empty molecule. Designs are SMILES.

    Args:
        alphabet: SELFIES tokens (e.g. `"[C]"`).
        max_len: maximum number of tokens per molecule.
    """

    def __init__(self, alphabet: Sequence[str], max_len: int = 40) -> None:
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        atoms = [_element(tok) is not None for tok in alphabet]
        if not any(atoms):
            raise ValueError("the alphabet needs at least one atom token")
        super().__init__(list(alphabet), max_len=max_len, min_len=1)
        self._index = {tok: i for i, tok in enumerate(self.alphabet)}
        self._first = torch.tensor(atoms + [False])  # allowed actions at the empty prefix

    @classmethod
    def from_corpus(
        cls,
        smiles: Sequence[str],
        max_len: int = 40,
        min_count: int = 1,
        elements: Collection[str] | None = ORGANIC_ELEMENTS,
    ) -> SelfiesEnv:
        """Builds the alphabet from the SELFIES tokens seen in a corpus.

        Molecules that fail to encode, contain several fragments (`.`), are longer than
        `max_len` tokens or contain an element outside `elements` are skipped. Tokens seen
        fewer than `min_count` times are dropped.

        Args:
            smiles: corpus of SMILES strings.
            max_len: maximum number of tokens per molecule.
            min_count: minimum number of occurrences for a token to enter the alphabet.
            elements: allowed element symbols (None: any). The default keeps every sampled
                molecule parseable by rdkit.
        """
        frozen = None if elements is None else frozenset(elements)
        return cls(list(_corpus_alphabet(tuple(smiles), max_len, min_count, frozen)), max_len=max_len)

    def forward_mask(self, states: torch.Tensor) -> torch.Tensor:
        mask = super().forward_mask(states)
        empty = self.lengths(states) == 0
        return torch.where(empty.unsqueeze(1), self._first.to(mask.device), mask)

    def tokenize(self, smiles: str) -> list[int] | None:
        """Token indices of a SMILES, or None if not representable.

        None when encoding fails, the molecule has several fragments, a token is outside
        the alphabet, the first token is not an atom, or it is longer than `max_len` tokens.
        """
        toks = _tokenize(smiles, self.max_len)
        if toks is None or _element(toks[0]) is None:
            return None
        ids = [self._index.get(tok) for tok in toks]
        return None if None in ids else ids  # type: ignore[return-value]

    def from_designs(self, designs: Sequence[str]) -> torch.Tensor:
        """States of the representable SMILES (`k x max_len`, `k <= len(designs)`)."""
        return self.states_of([ids for ids in map(self.tokenize, designs) if ids is not None])

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """SMILES of a token-index sequence, read up to the first pad/stop ("" if empty)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        parts: list[str] = []
        for i in ids:
            if i >= self.pad:
                break
            parts.append(self.alphabet[i])
        return sf.decoder("".join(parts)) if parts else ""

    def to_designs(self, states: torch.Tensor) -> list[str]:
        return [self.decode(row) for row in states.tolist()]

    def unique_valid(self, designs: Sequence[str]) -> int:
        """Distinct (canonical) valid molecules among `designs` (`count_unique_valid`)."""
        return count_unique_valid(designs)

    def state_dict(self) -> dict[str, Any]:
        """The alphabet and length limit: enough to rebuild the environment."""
        return {"alphabet": list(self.alphabet), "max_len": self.max_len}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> SelfiesEnv:
        """Rebuilds an environment saved with `state_dict`."""
        return cls(state["alphabet"], max_len=state["max_len"])

    def __repr__(self) -> str:
        return f"SelfiesEnv(tokens={len(self.alphabet)}, max_len={self.max_len})"


def _tokenize(smiles: str, max_len: int) -> list[str] | None:
    """SELFIES tokens of a single-fragment SMILES with 1..max_len tokens, else None."""
    if not smiles or "." in smiles:
        return None
    try:
        encoded = sf.encoder(smiles)
    except Exception:  # noqa: BLE001  selfies raises EncoderError, rdkit-free parsing may raise others
        return None
    if not encoded:
        return None
    toks = list(sf.split_selfies(encoded))
    if not 1 <= len(toks) <= max_len:
        return None
    return toks


def _tokenize_all(smiles: Sequence[str], max_len: int) -> list[list[str]]:
    return [t for t in (_tokenize(s, max_len) for s in smiles) if t is not None]


def _element(token: str) -> str | None:
    """Element symbol of an atom token (`"[=N+1]"` -> `"N"`); None for branch/ring tokens."""
    if "Branch" in token or "Ring" in token:
        return None
    m = _ELEMENT.match(token)
    return m.group(1) if m else None


def count_unique_valid(smiles: Sequence[str]) -> int:
    """Number of distinct (canonical) rdkit-parseable, non-empty molecules."""
    seen: set[str] = set()
    with rdBase.BlockLogs():
        for s in smiles:
            mol = Chem.MolFromSmiles(s) if s else None
            if mol is not None and mol.GetNumAtoms() > 0:
                seen.add(Chem.MolToSmiles(mol))
    return len(seen)


@functools.lru_cache(maxsize=8)
def _corpus_alphabet(smiles: tuple[str, ...], max_len: int, min_count: int,
                     elements: frozenset[str] | None) -> tuple[str, ...]:
    """The sorted tokens of `SelfiesEnv.from_corpus`, memoised: encoding a 10k-molecule library
    costs ~8 CPU s, and every campaign started in one process (tests, benchmark sweeps) builds
    its proposer's alphabet from the same library."""
    counts: Counter[str] = Counter()
    for toks in _tokenize_all(smiles, max_len):
        if elements is None or all(_element(t) in elements for t in toks if _element(t)):
            counts.update(toks)
    return tuple(sorted(tok for tok, c in counts.items() if c >= min_count))
