"""The run directory's checkpoints (`pipeline.checkpoints`): durable writes, one copy, resume's pick."""

import torch

from sciloop.pipeline.checkpoints import Checkpoints


def test_write_prune_latest_and_final(tmp_path):
    store = Checkpoints(tmp_path / "checkpoints")
    assert store.latest("proposer", 5) is None and store.final() == []
    for r in (1, 2, 3):
        for kind in ("proposer", "surrogate"):
            store.write(kind, r, {"round": r, "w": torch.ones(2) * r})
    assert not list(store.folder.glob("*.tmp"))  # renamed into place
    assert torch.load(store.latest("proposer", 3), weights_only=True)["round"] == 2  # before round 3
    store.prune(2)  # round 2 finished: round 1's go, round 3's (in progress) stay
    assert [p.name for p in store.final()] == ["proposer-round-002.pt", "proposer-round-003.pt",
                                               "surrogate-round-002.pt", "surrogate-round-003.pt"]
    assert store.latest("proposer", 2) is None  # round 2 crashed again: nothing older is left
    (store.folder / "proposer-round-010.pt").write_bytes(b"")
    assert store.latest("proposer", 100).name == "proposer-round-010.pt"  # by round number, not name order
