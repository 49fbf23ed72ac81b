"""ScreeningProposer: sampling without replacement, exhaustion, resume."""

import pytest

from sciloop.proposers.base import Proposer
from sciloop.proposers.screening import LibraryExhaustedError, ScreeningProposer

LIBRARY = [f"C{'C' * i}O" for i in range(10)] + ["CO"]  # "CO" is a duplicate


def test_no_repeats_then_exhausts():
    p = ScreeningProposer(LIBRARY, seed=3)
    assert isinstance(p, Proposer)
    assert p.train(lambda s: None, steps=5) == {}
    drawn = p.sample(4) + p.sample(4)
    assert len(drawn) == len(set(drawn)) == 8
    last = p.sample(4)  # only 2 left: fewer returned
    assert len(last) == 2 and set(drawn + last) == set(LIBRARY)
    with pytest.raises(LibraryExhaustedError):
        p.sample(1)
    assert p.sample(0) == []


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
