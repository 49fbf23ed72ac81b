import torch

from sciloop.surrogates import MorganFeaturizer, select_batch, tanimoto_matrix

POOL = ["CCO", "CCO", "CCCO", "c1ccccc1", "c1ccccc1C", "CC(=O)O", "CCN", "CCCCCCCC"]


def test_distinct_indices_top_q():
    fps = MorganFeaturizer().bit_fingerprints(POOL)
    acq = torch.tensor([5.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0])
    assert select_batch(acq, fps, q=3) == [0, 1, 2]  # equal fingerprints: two distinct picks
    assert select_batch(acq, fps, q=20) == list(range(8))
    assert select_batch(acq, fps, q=0) == []


def test_nan_values_go_last():
    fps = MorganFeaturizer().bit_fingerprints(POOL[:3])
    assert select_batch(torch.tensor([float("nan"), 1.0, 2.0]), fps, q=3) == [2, 1, 0]


def test_min_distance_respected_and_duplicates_excluded():
    fps = MorganFeaturizer().bit_fingerprints(POOL)
    acq = torch.tensor([5.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0])
    picked = select_batch(acq, fps, q=4, min_distance=0.6)
    assert len(set(picked)) == 4
    assert 0 in picked and 1 not in picked  # the duplicate is at distance 0
    S = tanimoto_matrix([fps[i] for i in picked], [fps[i] for i in picked])
    off_diagonal = S[~torch.eye(4, dtype=torch.bool).numpy()]
    assert (1 - off_diagonal >= 0.6).all()


def test_exhausted_constraint_fills_by_acquisition_order():
    fps = MorganFeaturizer().bit_fingerprints(["CCO"] * 4)
    picked = select_batch(torch.tensor([1.0, 4.0, 3.0, 2.0]), fps, q=3, min_distance=0.5)
    assert picked == [1, 2, 3]


def test_relaxed_receives_the_picks_that_break_min_distance():
    """Designs 0-2 are one family (similarity 0.9), 3 stands apart: with q = 3 the constraint
    leaves 0 and 3, and the batch is filled with 1, the best skipped, which `relaxed` names."""
    from sciloop.surrogates.selection import select_by_similarity

    family = {0, 1, 2}

    def nearest(i, picked):
        return max(0.9 if (i in family and j in family) else 0.1 for j in picked)

    relaxed = []
    picks = select_by_similarity(torch.tensor([4.0, 3.0, 2.0, 1.0]), 4, nearest, 3, 0.5, relaxed)
    assert picks == [0, 3, 1] and relaxed == [1]
    assert select_by_similarity(torch.tensor([4.0, 3.0, 2.0, 1.0]), 4, nearest, 2, 0.5, relaxed) == [0, 3]
    assert relaxed == [1]  # nothing more broke it


def test_free_picks_take_the_top_and_the_rest_keep_away_from_them():
    """Family {0, 1, 2} (similarity 0.9) and family {3, 4}: two free picks are the top two (one
    family); the third must keep its distance from both, so it comes from the other family."""
    from sciloop.surrogates.selection import select_by_similarity

    def nearest(i, picked):
        return max(0.9 if (i < 3) == (j < 3) else 0.1 for j in picked)

    values = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    assert select_by_similarity(values, 5, nearest, 3, 0.5, free=2) == [0, 1, 3]
    assert select_by_similarity(values, 5, nearest, 3, 0.5) == [0, 3, 1]  # no free pick: 1 only as a fill
    assert select_by_similarity(values, 5, nearest, 3, 0.5, free=3) == [0, 1, 2]  # all free: the top 3
