"""The run directory's model checkpoints: written durably, one copy kept, found again on resume.

Files are `checkpoints/<kind>-round-<NNN>.pt` (kind: `proposer`, `surrogate`). A round writes its
own; once it is finished, older rounds' files are deleted, so the folder holds the newest
finished round's models (what resume and MLflow's final models need) and the current round's.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import torch


def round_of(path: Path) -> int | None:
    """The round number in a checkpoint's file name (None when it has none)."""
    n = path.stem.rsplit("-", 1)[-1]
    return int(n) if n.isdigit() else None


class Checkpoints:
    """The checkpoint folder of one run directory.

    Args:
        folder: `<run_dir>/checkpoints` (created on the first write).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, kind: str, round_: int, state: dict[str, Any]) -> Path:
        """Write `<kind>-round-<round_>.pt` durably: a temporary file, fsync, rename, fsync of the folder."""
        self.folder.mkdir(exist_ok=True)
        target = self.folder / f"{kind}-round-{round_:03d}.pt"
        tmp = target.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself survives a power cut
        finally:
            os.close(fd)
        return target

    def latest(self, kind: str, before: int) -> Path | None:
        """The newest `kind` checkpoint of a round before `before` (a round that crashed after
        writing its own is proposed again from the previous round's state, as the first time)."""
        found = [(r, p) for p in self.folder.glob(f"{kind}-round-*.pt")
                 if (r := round_of(p)) is not None and r < before]
        return max(found)[1] if found else None

    def load(self, kind: str, before: int, allowed: Sequence[type] = ()) -> dict[str, Any] | None:
        """The state in the newest `kind` checkpoint before round `before` (`latest`), or None.
        Tensors and plain containers only, and the plain dataclasses in `allowed` (which older
        checkpoints hold): a checkpoint runs no code."""
        path = self.latest(kind, before)
        if path is None:
            return None
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)

    def of_round(self, round_: int) -> list[Path]:
        """The checkpoints a round wrote that are still on disk."""
        return sorted(p for p in self.folder.glob(f"*-round-{round_:03d}.pt"))

    def prune(self, upto: int) -> None:
        """Keep one copy of the models: the newest round's (at most `upto`) proposer and
        surrogate checkpoints; delete older rounds' (resume needs only the newest of each: the
        proposer's state, and the surrogate a warm refit continues from).

        Called once a round is finished, so a round that crashes still restarts from the
        previous round's checkpoint. Checkpoints of later rounds are kept.
        """
        written = [r for p in self.folder.glob("proposer-round-*.pt") if (r := round_of(p)) is not None and r <= upto]
        if not written:
            return
        newest = max(written)
        for path in self.folder.glob("*-round-*.pt"):
            r = round_of(path)
            if r is not None and r < newest:
                path.unlink(missing_ok=True)

    def final(self) -> list[Path]:
        """Every checkpoint on disk, sorted (after the last round: the final models)."""
        return sorted(self.folder.glob("*-round-*.pt"))
