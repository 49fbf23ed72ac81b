"""ScreeningProposer: one seeded order, pass after pass; resume."""

import pytest

from sciloop.proposers.base import Proposer
from sciloop.proposers.screening import ScreeningProposer

LIBRARY = [f"C{'C' * i}O" for i in range(10)] + ["CO"]  # "CO" is a duplicate


def test_one_pass_without_repeats_then_the_same_order_again():
    p = ScreeningProposer(LIBRARY, seed=3)
    assert isinstance(p, Proposer)
    assert p.train(lambda s: None, steps=5) == {}
    drawn = p.sample(4) + p.sample(4)
    assert len(drawn) == len(set(drawn)) == 8
    last = p.sample(4)  # 2 left in this pass, then the order starts again
    assert set(drawn + last[:2]) == set(LIBRARY) and last[2:] == drawn[:2]
    assert sorted(p.sample(100)) == sorted(set(LIBRARY))  # at most the whole library, none twice
    assert p.sample(0) == []
    with pytest.raises(ValueError, match="non-empty"):
        ScreeningProposer([])


def test_designs_passed_over_come_back_until_the_library_is_labelled():
    """Regression: with a pool of 3 and one pick a round, screening ran out after 4 rounds
    having labelled 4 of 10 designs (the passed-over ones were never offered again)."""
    p, labelled = ScreeningProposer(LIBRARY, seed=1), set()
    for _ in range(len(set(LIBRARY))):
        pool = [d for d in p.sample(3) if d not in labelled]
        while not pool:  # the campaign draws again when a whole sample is labelled
            pool = [d for d in p.sample(3) if d not in labelled]
        labelled.add(pool[0])
    assert labelled == set(LIBRARY)


def test_seeded_order_and_resume():
    a = ScreeningProposer(LIBRARY, seed=7)
    first = a.sample(3)
    state = a.state_dict()
    b = ScreeningProposer(LIBRARY, seed=0)
    b.load_state_dict(state)
    assert b.sample(5) == a.sample(5)
    assert ScreeningProposer(LIBRARY, seed=7).sample(3) == first
    with pytest.raises(ValueError):
        ScreeningProposer(LIBRARY[:3], seed=7).load_state_dict(state)
