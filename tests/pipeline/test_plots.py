import sys

from sciloop.pipeline.plots import top_molecules_grid


def test_grid_shows_the_best_molecules():
    image = top_molecules_grid(["CCO", "c1ccccc1", "CCN"], [0.1, 0.9, 0.5], k=2)
    assert image is not None and image.size == (4 * 250, 200)  # one row of 4 cells


def test_grid_is_skipped_where_rdkit_cannot_draw(monkeypatch):
    # rdkit.Chem.Draw links libXrender/libX11; on an image without them the import fails and
    # the round is logged without its picture instead of crashing the campaign.
    import rdkit.Chem

    monkeypatch.setitem(sys.modules, "rdkit.Chem.Draw", None)  # `import` now raises ImportError
    monkeypatch.delattr(rdkit.Chem, "Draw", raising=False)
    assert top_molecules_grid(["CCO"], [0.1]) is None


def test_the_curves_are_every_prefix_top_k_mean():
    import math
    import random

    from sciloop.pipeline.auc import top_k_mean
    from sciloop.pipeline.plots import curves_figure
    from sciloop.pipeline.report import running_top_k_mean

    rng = random.Random(0)
    values = [None, *(None if rng.random() < 0.1 else rng.random() for _ in range(300))]
    for k in (1, 10):
        expected = [top_k_mean([v for v in values[:n + 1] if v is not None], k, math.nan)
                    for n in range(len(values))]
        got = running_top_k_mean(values, k)
        assert math.isnan(got[0]) and math.isnan(expected[0])
        assert all(abs(a - b) < 1e-12 for a, b in zip(got[1:], expected[1:]))
    lines = curves_figure(values).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["best so far", "top-10 mean"]
    assert list(lines[1].get_ydata())[-1] == running_top_k_mean(values, 10)[-1]
