"""`OffspringProposer`: Mol GA's parent sampling, children screened by the reward."""

from collections import Counter

import numpy as np
import pytest
import torch
from rdkit import Chem

from sciloop.proposers.offspring import OffspringConfig, OffspringProposer, quantile_parents

LABELLED = ["CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1", "c1ccc2ccccc2c1", "CCN(CC)CC", "OC(=O)c1ccccc1O",
            "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "CN1CCC[C@H]1c1cccnc1", "Clc1ccccc1", "CCCCCCO", "NCCc1ccccc1"]


def test_quantile_parents_favour_the_best_and_reach_every_rank():
    ranked = [f"d{i}" for i in range(1000)]
    counts = Counter(quantile_parents(ranked, 250_000, np.random.default_rng(0)))
    assert sum(counts.values()) == 250_000
    assert counts["d0"] > 10_000  # the top 0.1% (d0 alone) is one of 25 equal shares, and in all others
    assert counts["d0"] > 50 * counts["d900"] > 0 and len(counts) == 1000
    with pytest.raises(ValueError, match="no labelled design"):
        quantile_parents([], 5, np.random.default_rng(0))


def test_children_are_new_valid_molecules_and_sampled_best_first():
    proposer = OffspringProposer(OffspringConfig(children=200, seed=1))
    size = lambda designs: torch.tensor([float(Chem.MolFromSmiles(d).GetNumAtoms()) for d in designs])  # noqa: E731
    stats = proposer.train(size, steps=0, offline=LABELLED)
    assert stats["children"] == len(proposer.children) > 20
    assert not set(proposer.children) & set(LABELLED)
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(c)) == c for c in proposer.children)  # canonical
    best = proposer.sample(5)
    assert [proposer.children[d] for d in best] == sorted(proposer.children.values(), reverse=True)[:5]


def test_a_second_draw_of_a_round_gives_the_next_children():
    proposer = OffspringProposer(OffspringConfig(children=200, seed=1))
    proposer.train(lambda designs: torch.tensor([float(len(d)) for d in designs]), steps=0, offline=LABELLED)
    ranked = sorted(proposer.children, key=proposer.children.__getitem__, reverse=True)
    # the campaign draws again when the first draw held designs labelled already
    assert proposer.sample(5) + proposer.sample(5) == ranked[:10]
    assert len(proposer.sample(10 ** 6)) == len(ranked) - 10 and proposer.sample(3) == []
    proposer.train(lambda designs: torch.zeros(len(designs)), steps=0, offline=LABELLED)
    assert len(proposer.sample(5)) == 5  # a new round starts from its best again


def test_state_round_trip_repeats_the_children():
    a = OffspringProposer(OffspringConfig(children=50, seed=3))
    b = OffspringProposer()
    b.load_state_dict(a.state_dict())
    zero = lambda designs: torch.zeros(len(designs))  # noqa: E731
    a.train(zero, 0, LABELLED)
    b.train(zero, 0, LABELLED)
    assert a.children == b.children and b.config.children == 50


def test_ray_workers_breed_the_same_children(ray_session):
    zero = lambda designs: torch.zeros(len(designs))  # noqa: E731
    here, there = (OffspringProposer(OffspringConfig(children=250, seed=4, workers=w)) for w in (0, 2))
    here.train(zero, 0, LABELLED)
    there.train(zero, 0, LABELLED)
    assert list(there.children) == list(here.children) and len(here.children) > 20


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_mutants_stay_near_a_parent_in_size_and_crossovers_do_not(fraction):
    parents = ["CCCCCCCC", "CC(C)Cc1ccc(cc1)C(C)C(=O)OCCOC(=O)c1ccc(CCCC)cc1"]  # 8 and 28 heavy atoms
    proposer = OffspringProposer(OffspringConfig(children=200, seed=2, mutate_fraction=fraction))
    proposer.train(lambda designs: torch.zeros(len(designs)), 0, parents)
    sizes = [Chem.MolFromSmiles(c).GetNumAtoms() for c in proposer.children]
    near_a_parent = [min(abs(n - 8), abs(n - 28)) <= 3 for n in sizes]  # a mutation adds or removes a few
    assert len(sizes) > 10
    assert all(near_a_parent) if fraction == 1.0 else not all(near_a_parent)


def test_prepare_then_train_gives_the_children_train_alone_gives(ray_session):
    zero = lambda designs: torch.zeros(len(designs))  # noqa: E731
    alone, prepared, other = (OffspringProposer(OffspringConfig(children=250, seed=5, workers=2)) for _ in range(3))
    alone.train(zero, 0, LABELLED)
    prepared.prepare(LABELLED)  # breeding starts on Ray now; train collects it
    prepared.train(zero, 0, LABELLED)
    assert prepared.children == alone.children and prepared.rng.random() == alone.rng.random()
    other.prepare(LABELLED[:5])  # prepared for other designs: bred again for the ones train gets
    other.train(zero, 0, LABELLED)
    assert set(other.children).isdisjoint(LABELLED) and other.children != alone.children


def test_immigrants_bring_library_parents_and_nothing_changes_without_them(monkeypatch):
    from sciloop.proposers import offspring

    library = ["O=S(=O)(N)c1ccc(cc1)-n1nccc1", "FC(F)(F)c1ccccc1", "c1ccncc1"]
    bred = []
    monkeypatch.setattr(offspring, "breed", lambda pairs, *rest: bred.extend(pairs) or [])
    cfg = dict(children=400, seed=5)
    OffspringProposer(OffspringConfig(**cfg, immigrant_fraction=0.25), library).train(
        lambda d: torch.zeros(len(d)), steps=0, offline=LABELLED)
    second = Counter(b in library for _, b in bred)
    assert all(a in LABELLED for a, _ in bred) and len(bred) == 400
    assert 60 < second[True] < 140  # about a quarter: 400 x 0.25
    plain, bred[:] = list(bred), []
    for immigrants in (0.0, 0.25):  # no library, or no share: the pairs of a proposer without them
        OffspringProposer(OffspringConfig(**cfg, immigrant_fraction=immigrants),
                          library if not immigrants else ()).train(
            lambda d: torch.zeros(len(d)), steps=0, offline=LABELLED)
    first, again = bred[:400], bred[400:]
    assert first == again and all(b in LABELLED for _, b in first) and first != plain


def test_the_breeding_module_imports_without_torch_or_ray():
    """Every round's breeding tasks may land on fresh Ray workers, which import `offspring.py` first:
    with torch among its imports that was ~1 s of CPU per worker and round (py-spy, PMO-10K)."""
    import subprocess
    import sys

    code = "import sys, sciloop.proposers.offspring; print(sorted({'torch', 'ray'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
