"""The proposal half of a round: the plateau test that switches batch diversity on."""

from sciloop.pipeline.proposal import on_plateau


def test_a_plateau_is_no_gain_of_the_top_ten_over_the_window():
    climbing = [0.1] * 20 + [0.5]  # the last label lifts the top-10 mean
    assert not on_plateau(climbing, window=5)
    flat = climbing + [0.05] * 5  # five labels, none enters the top 10
    assert on_plateau(flat, window=5) and not on_plateau(flat, window=6)  # 6 back: the 0.5 is inside
    assert not on_plateau([0.3] * 5, window=5)  # no labels before the window: too early to say
    assert on_plateau([0.3] * 6, window=5)  # ties are no gain
    assert on_plateau(climbing, window=0) and on_plateau([], window=0)  # 0: diversity in every round



def test_with_fewer_than_ten_labels_the_mean_of_all_counts():
    assert on_plateau([0.4, 0.2, 0.1], window=1)  # a low label lowers the mean: no gain
    assert not on_plateau([0.2, 0.1, 0.4], window=1)
