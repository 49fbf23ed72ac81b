"""The built-in acquisitions give the numbers they gave before the acquisition registry.

`acquisition_golden.json` was recorded (`python tests/surrogates/test_acquisition_golden.py
record`) on the commit before the registry (e56ec1a): every built-in name and reward kind, on a
fixed ensemble (no training) and on an unfitted Tanimoto GP, so the values are exact. The GP's
`lognei` entries were recorded again on 2026-12-07, when the pruning of its baseline was seeded
(it drew from torch's global stream; every other entry stayed exactly as recorded). The GP's
`ucb`, `pi`, `mean` and `thompson` entries were recorded again the same day, when a lone design's
posterior became its marginal, computed for all designs in one pass: values moved by ~1e-16
(invisible at the float32 this test compares), which flips exact ties between a design and itself
as a training design in the `rank` reward (two entries).
"""

import functools
import json
import sys
from pathlib import Path

import pytest
import torch
from botorch.models.ensemble import EnsembleModel
from gpytorch.kernels import ScaleKernel

from sciloop.surrogates.acquisition import AcquisitionConfig, acquisition_values, make_log_reward
from sciloop.surrogates.gp import TanimotoGP, TanimotoKernel

GOLDEN = Path(__file__).with_name("acquisition_golden.json")
NAMES = ("ucb", "logei", "lognei", "pi", "mean", "thompson")
DESIGNS = [str(i) for i in range(12)]
TRAIN = DESIGNS[:6]


def _table() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, len(DESIGNS), generator=g, dtype=torch.float64)


class _Table(EnsembleModel):
    """Design `i` is the 1-d feature `[i]`; member `k` predicts `table[k, i]`."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = table
        self._num_outputs = 1

    def forward(self, X):
        return self.table[:, X[..., 0].long()].movedim(0, -2).unsqueeze(-1)


class _Surrogate:
    """Designs are the strings '0'..'11'; anything else does not featurize."""

    def __init__(self, model, rows: torch.Tensor):
        self.model, self.rows = model, rows

    def features(self, designs):
        if not all(d.isdigit() for d in designs):
            raise ValueError("not a design")
        return self.rows[[int(d) for d in designs]]


def _surrogates() -> dict[str, _Surrogate]:
    table = _table()
    ensemble = _Surrogate(_Table(table), torch.arange(len(DESIGNS), dtype=torch.float64).unsqueeze(-1))
    g = torch.Generator().manual_seed(1)
    rows = torch.randint(0, 3, (len(DESIGNS), 8), generator=g).to(torch.float64)
    y = table.mean(0)[: len(TRAIN)].reshape(-1, 1)
    gp = TanimotoGP(rows[: len(TRAIN)], y, covar_module=ScaleKernel(TanimotoKernel())).eval()
    return {"ensemble": _Surrogate(ensemble.model, ensemble.rows), "gp": _Surrogate(gp, rows)}


@functools.cache
def _computed() -> dict[str, list[float]]:
    return compute()


def compute() -> dict[str, list[float]]:
    """Log-rewards (an invalid design first) and acquisition values, per surrogate x name x reward."""
    out: dict[str, list[float]] = {}
    for kind, surrogate in _surrogates().items():
        y = [float(v) for v in torch.linspace(-1.0, 2.0, len(TRAIN))]
        for name in NAMES:
            for reward in ("acquisition", "rank"):
                config = AcquisitionConfig(name=name, beta=1.5, temperature=0.2, reward=reward, seed=5,
                                           mc_samples=16)
                log_reward = make_log_reward(surrogate, config, TRAIN, y)
                out[f"{kind}/{name}/{reward}/log_reward"] = log_reward(["x", *DESIGNS]).tolist()
                values = acquisition_values(log_reward.acquisition, surrogate.features(DESIGNS))
                out[f"{kind}/{name}/{reward}/acquisition"] = values.tolist()
    return out


@pytest.mark.parametrize("key", sorted(json.loads(GOLDEN.read_text())) if GOLDEN.exists() else [])
def test_builtin_acquisitions_give_the_recorded_numbers(key):
    expected = json.loads(GOLDEN.read_text())[key]
    torch.testing.assert_close(torch.tensor(_computed()[key]), torch.tensor(expected), rtol=0, atol=0)


if __name__ == "__main__" and sys.argv[1:] == ["record"]:
    GOLDEN.write_text(json.dumps(compute(), indent=0) + "\n")
