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
