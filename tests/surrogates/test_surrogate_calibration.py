import math

import torch
from scipy import stats

from sciloop.surrogates import EnsembleConfig, EnsembleSurrogate
from sciloop.surrogates.calibration import VarianceMap, fit_variance_map, oob_mean_std
from sciloop.surrogates.metrics import prospective_metrics
from sciloop.surrogates.training import TrainConfig, member_weights

NOISE = 0.3


class ScalarFeaturizer:
    """Designs are decimal strings "x"; the feature row is ``[x]``."""

    dim = 1

    def __call__(self, designs):
        return torch.tensor([[float(d)] for d in designs], dtype=torch.float64)


def synthetic(n: int, seed: int) -> tuple[list[str], torch.Tensor]:
    """``y = sin(3x) + N(0, NOISE^2)`` on ``x ~ U(-1, 1)``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.sin(3 * x) + NOISE * torch.randn(n, generator=g, dtype=torch.float64)
    return [repr(float(v)) for v in x], y


def fit(calibrate: bool = True) -> tuple[EnsembleSurrogate, dict]:
    config = EnsembleConfig(members=5, hidden=32, layers=2, epochs=150, lr=1e-2, batch_size=128,
                            seed=0, num_threads=1, calibrate=calibrate)
    surrogate = EnsembleSurrogate(ScalarFeaturizer(), config)
    designs, y = synthetic(400, seed=1)
    return surrogate, surrogate.fit(designs, y.tolist())


def test_fit_variance_map_recovers_a_known_map():
    g = torch.Generator().manual_seed(0)
    s = 0.1 + 0.9 * torch.rand(4000, generator=g, dtype=torch.float64)
    y = torch.randn(4000, generator=g, dtype=torch.float64) * (4.0 * s**2 + 0.25).sqrt()
    fitted = fit_variance_map(torch.zeros(4000, dtype=torch.float64), s, y)
    assert fitted.rows == 4000
    assert abs(fitted.a - 4.0) < 0.6 and abs(fitted.b - 0.25) < 0.1
    assert fit_variance_map(s[:3], s[:3], y[:3]) == VarianceMap()  # too few rows: identity


def test_variance_map_keeps_the_mean_and_sets_the_variance():
    values = torch.tensor([[1.0, 0.0], [2.0, 0.5], [4.0, 1.0]], dtype=torch.float64)
    vmap = VarianceMap(a=2.0, b=0.5, rows=10)
    out = vmap.apply(values)
    torch.testing.assert_close(out.mean(0), values.mean(0))
    torch.testing.assert_close(out.var(0), 2.0 * values.var(0) + 0.5)
    agree = torch.full((3, 4), 0.7, dtype=torch.float64)  # members that agree exactly: no NaN
    assert torch.isfinite(VarianceMap(a=1.0, b=5.0, rows=10).apply(agree)).all()


def test_out_of_bag_statistics_use_only_unseen_members():
    pred = torch.tensor([[1.0, 5.0], [3.0, 6.0], [100.0, 7.0]], dtype=torch.float64)
    weights = torch.tensor([[0.0, 0.0], [0.0, 1.0], [2.0, 1.0]], dtype=torch.float64)
    rows, mean, std = oob_mean_std(pred, weights)
    assert rows.tolist() == [0]  # row 1 has one unseen member only
    torch.testing.assert_close(mean, torch.tensor([2.0], dtype=torch.float64))
    torch.testing.assert_close(std, torch.tensor([math.sqrt(2.0)], dtype=torch.float64))


def test_member_weights_are_a_poisson_bootstrap():
    w = member_weights(2000, 5, TrainConfig(seed=3))
    assert w.shape == (5, 2000)
    assert abs(float((w == 0).double().mean()) - math.exp(-1)) < 0.02
    torch.testing.assert_close(w, member_weights(2000, 5, TrainConfig(seed=3)))


def test_calibrated_intervals_cover_held_out_points_at_the_nominal_rate():
    surrogate, stats_ = fit(calibrate=True)
    assert stats_["calibration_rows"] > 100 and stats_["calibration_b"] > 0
    designs, y = synthetic(2000, seed=2)
    mean, std = surrogate.predict(designs)
    raw_mean, raw_std = surrogate.predict(designs, calibrated=False)
    torch.testing.assert_close(mean, raw_mean)  # calibration changes the spread only
    half = stats.norm.ppf(0.95)
    covered = float(((y - mean).abs() <= half * std).double().mean())
    raw_covered = float(((y - mean).abs() <= half * raw_std).double().mean())
    assert 0.80 <= covered <= 0.97, covered
    assert raw_covered < 0.8  # the raw ensemble misses the label noise
    calibrated_m = prospective_metrics(mean, std, y)
    raw_m = prospective_metrics(raw_mean, raw_std, y)
    assert calibrated_m["nll"] < raw_m["nll"] - 0.5
    assert calibrated_m["miscalibration_area"] < raw_m["miscalibration_area"]
    # NLL near that of the true noise model (the mean is not perfect, so a little above)
    assert calibrated_m["nll"] < 0.5 * math.log(2 * math.pi * math.e * NOISE**2) + 0.3


def test_posterior_sees_the_calibrated_spread_and_it_grows_away_from_the_data():
    surrogate, stats_ = fit(calibrate=True)
    model = surrogate.model
    X = torch.linspace(-0.9, 0.9, 20, dtype=torch.float64).unsqueeze(-1)
    var = model.posterior(X).variance.reshape(-1)
    _, std = surrogate.predict([repr(float(v)) for v in X[:, 0]])
    torch.testing.assert_close(var, std**2)
    _, raw = surrogate.predict([repr(float(v)) for v in X[:, 0]], calibrated=False)
    a, b, y_std = stats_["calibration_a"], stats_["calibration_b"], float(model.y_std)
    torch.testing.assert_close(std**2, a * raw**2 + b * y_std**2)
    _, far = surrogate.predict(["4.0", "5.0", "6.0"])
    assert far.mean() > 3 * std.mean()


def test_calibration_off_keeps_the_raw_members():
    surrogate, stats_ = fit(calibrate=False)
    assert stats_["calibration_rows"] == 0 and stats_["calibration_a"] == 1.0
    designs, _ = synthetic(50, seed=4)
    torch.testing.assert_close(surrogate.predict(designs)[1],
                               surrogate.predict(designs, calibrated=False)[1])
