"""`pipeline/proposal.py` helpers that need no campaign (the campaign tests run the rest)."""

from sciloop.pipeline.proposal import random_picks


def test_random_picks_draw_from_the_unpicked_rest_the_same_way_each_time():
    picks = random_picks(10, [0, 3], 4, seed=7)
    assert len(picks) == len(set(picks)) == 4 and not {0, 3} & set(picks)
    assert all(0 <= i < 10 for i in picks)
    assert random_picks(10, [0, 3], 4, seed=7) == picks  # a resumed round draws the same
    assert any(random_picks(10, [0, 3], 4, seed=s) != picks for s in range(8, 12))
    assert sorted(random_picks(5, [1, 2], 9, seed=0)) == [0, 3, 4]  # the pool runs out: fewer
    assert random_picks(5, [], 0, seed=0) == []


def test_random_picks_are_uniform_over_the_rest():
    counts = [0] * 6
    for seed in range(3000):
        for i in random_picks(6, [5], 2, seed=seed):
            counts[i] += 1
    assert counts[5] == 0 and all(1050 < c < 1350 for c in counts[:5])  # 1,200 expected each
