"""`SequenceOffspringProposer`: crossovers and point mutations of labelled sequences, screened by the reward."""

import sys

import numpy as np
import torch

from sciloop.proposers.sequence_offspring import (SequenceOffspringConfig, SequenceOffspringProposer,
                                                  breed_sequences)

ALPHABET = "ACDEFGHIKL"
RNG = np.random.default_rng(0)
LABELLED = ["".join(RNG.choice(list(ALPHABET), 12)) for _ in range(20)]


def count_a(designs: list[str]) -> torch.Tensor:
    return torch.tensor([float(d.count("A")) for d in designs])


def test_children_are_new_distinct_valid_and_sampled_best_first():
    proposer = SequenceOffspringProposer(SequenceOffspringConfig(ALPHABET, 12, children=300, seed=1))
    stats = proposer.train(count_a, steps=0, offline=LABELLED)
    children = list(proposer.children)
    assert stats["children"] == len(children) > 200 and len(set(children)) == len(children)
    assert not set(children) & set(LABELLED)
    assert all(len(c) == 12 and set(c) <= set(ALPHABET) for c in children)
    best = proposer.sample(5)
    assert [proposer.children[d] for d in best] == sorted(proposer.children.values(), reverse=True)[:5]
    assert stats["mean_log_reward"] == np.mean(list(proposer.children.values()))


def test_crossover_children_mix_the_parents_and_mutants_stay_one_or_two_edits_away():
    a, b = "A" * 16, "C" * 16
    config = SequenceOffspringConfig("ACDE", 16, mutation_rate=1e-9, seed=0)
    crossed = breed_sequences([a, b] * 200, config, np.random.default_rng(0))
    assert all(set(c) <= {"A", "C"} for c in crossed)
    assert sum(c not in (a, b) for c in crossed) > 150  # most are mixtures of both parents
    config.mutate_fraction = 1.0
    mutants = breed_sequences([a, b] * 200, config, np.random.default_rng(0))
    assert all(sum(x != "A" for x in m) == 1 for m in mutants)  # exactly the forced change, from `a` alone
    config.mutation_rate, config.mutate_fraction = None, 0.0  # default rate 1/length: ~1 change
    changes = [sum(x not in "AC" for x in c) for c in breed_sequences([a, b] * 500, config, np.random.default_rng(1))]
    assert 0.6 < np.mean(changes) < 1.2  # 1/16 per position, 3/4 of draws give another token


def test_variable_length_children_respect_the_bounds():
    parents = ["ACD", "ACDEACDEAC", "AC", "ACDEAC"]
    config = SequenceOffspringConfig("ACDE", 10, min_length=3, mutate_fraction=0.5, seed=2)
    proposer = SequenceOffspringProposer(config)
    proposer.train(lambda d: torch.zeros(len(d)), 0, parents)
    assert proposer.children and all(3 <= len(c) <= 10 for c in proposer.children)
    same = ["ACDEAC", "CADECA"] * 100  # every parent of length 6: crossovers still make new lengths
    lengths = {len(c) for c in breed_sequences(same, config, np.random.default_rng(0))}
    assert 6 in lengths and len(lengths) >= 4 and lengths <= set(range(3, 11))
    fixed = SequenceOffspringConfig("ACDE", 6, seed=2)  # a fixed length: only length 6, as before
    assert {len(c) for c in breed_sequences(same, fixed, np.random.default_rng(0))} == {6}


def test_state_round_trip_repeats_the_children():
    a = SequenceOffspringProposer(SequenceOffspringConfig(ALPHABET, 12, children=80, seed=3))
    a.train(count_a, 0, LABELLED)  # advance the stream before saving
    b = SequenceOffspringProposer(SequenceOffspringConfig("AC", 2))
    b.load_state_dict(a.state_dict())
    a.train(count_a, 0, LABELLED)
    b.train(count_a, 0, LABELLED)
    assert a.children == b.children and b.config.children == 80 and b.config.alphabet == ALPHABET


def test_it_imports_no_rdkit(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdkit", None)
    for name in ("sciloop.proposers.sequence_offspring", "sciloop.proposers.parents"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import sciloop.proposers.sequence_offspring  # noqa: F401
