"""The SELFIES sequence environment: a tree MDP over token prefixes.

A state is a prefix of SELFIES tokens; an action appends a token or stops (EOS). Every
state has exactly one parent, so the backward policy is 1 and trajectory balance is exact
on whole sequences. Any SELFIES string decodes to a valid molecule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import re
from collections.abc import Collection

import selfies as sf
import torch
from rdkit import Chem, rdBase

EOS_TOKEN = "<eos>"

ORGANIC_ELEMENTS: frozenset[str] = frozenset({"B", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})
"""Elements on which SELFIES' default valences agree with rdkit (Be, Al, As, Sn... do not)."""

_ELEMENT = re.compile(r"^\[[=#/\\]?\d*([A-Z][a-z]?)")


class SelfiesEnv:
    """Token vocabulary, action masks and SMILES <-> token-id conversion.

    Token id 0 is EOS (the stop action); ids 1..V-1 are SELFIES tokens. A trajectory of
    `k` tokens (1 <= k <= max_len) is followed by EOS, which is forced after `max_len`
    tokens. The first action must be an atom token (not EOS, a branch or a ring token,
    which SELFIES would skip), so no sequence decodes to an empty molecule.

    Args:
        alphabet: SELFIES tokens (e.g. `"[C]"`), without EOS.
        max_len: maximum number of tokens per molecule.
    """

    eos: int = 0

    def __init__(self, alphabet: Sequence[str], max_len: int = 40) -> None:
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        if not any(_element(tok) for tok in alphabet):
            raise ValueError("the alphabet needs at least one atom token")
        self.alphabet: list[str] = list(alphabet)
        self.max_len = max_len
        self.tokens: list[str] = [EOS_TOKEN, *self.alphabet]
        self._index = {tok: i for i, tok in enumerate(self.tokens)}

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
        counts: Counter[str] = Counter()
        for toks in _tokenize_all(smiles, max_len):
            if elements is None or all(_element(t) in elements for t in toks if _element(t)):
                counts.update(toks)
        alphabet = sorted(tok for tok, c in counts.items() if c >= min_count)
        return cls(alphabet, max_len=max_len)

    @property
    def vocab_size(self) -> int:
        """Number of actions: SELFIES tokens plus EOS."""
        return len(self.tokens)

    def action_masks(self) -> torch.Tensor:
        """Allowed actions per step: a `(max_len + 1) x vocab_size` bool tensor.

        Row `t` is the mask at step `t` (after `t` tokens): only atom tokens at step 0,
        only EOS at step `max_len`, anything in between.
        """
        masks = torch.ones(self.max_len + 1, self.vocab_size, dtype=torch.bool)
        masks[0] = torch.tensor([_element(tok) is not None for tok in self.tokens])
        masks[self.max_len, :] = False
        masks[self.max_len, self.eos] = True
        return masks

    def encode(self, smiles: str) -> list[int] | None:
        """Token ids of a SMILES (no EOS), or None if not representable.

        None when encoding fails, the molecule has several fragments, a token is outside
        the alphabet, or it is longer than `max_len` tokens.
        """
        toks = _tokenize(smiles, self.max_len)
        if toks is None:
            return None
        ids = [self._index.get(tok) for tok in toks]
        if any(i is None or i == self.eos for i in ids) or _element(toks[0]) is None:
            return None
        return ids  # type: ignore[return-value]

    def encode_batch(self, smiles: Sequence[str]) -> torch.Tensor:
        """Encodes the representable SMILES into a `k x max_len` LongTensor padded with EOS.

        Unrepresentable ones are dropped, so `k <= len(smiles)`.
        """
        rows = [ids for ids in map(self.encode, smiles) if ids is not None]
        out = torch.full((len(rows), self.max_len), self.eos, dtype=torch.long)
        for r, ids in enumerate(rows):
            out[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, token_ids: Sequence[int] | torch.Tensor) -> str:
        """SMILES of a token-id sequence, read up to the first EOS ("" if empty)."""
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.tolist()
        parts: list[str] = []
        for i in token_ids:
            if i == self.eos:
                break
            parts.append(self.tokens[i])
        if not parts:
            return ""
        return sf.decoder("".join(parts))

    def decode_batch(self, tokens: torch.Tensor) -> list[str]:
        """SMILES of each row of an `n x L` LongTensor padded with EOS."""
        return [self.decode(row) for row in tokens.tolist()]

    def state_dict(self) -> dict[str, Any]:
        """The alphabet and length limit: enough to rebuild the environment."""
        return {"alphabet": list(self.alphabet), "max_len": self.max_len}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> SelfiesEnv:
        """Rebuilds an environment saved with `state_dict`."""
        return cls(state["alphabet"], max_len=state["max_len"])

    def __repr__(self) -> str:
        return f"SelfiesEnv(vocab_size={self.vocab_size}, max_len={self.max_len})"


def _tokenize(smiles: str, max_len: int) -> list[str] | None:
    """SELFIES tokens of a single-fragment SMILES with 1..max_len tokens, else None."""
    if not smiles or "." in smiles:
        return None
    try:
        encoded = sf.encoder(smiles)
    except Exception:  # selfies raises EncoderError, rdkit-free parsing may raise others
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
