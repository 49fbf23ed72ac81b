"""Reference values of Ehrlich functions from the paper authors' library, for a test to check.

Builds `holo.test_functions.closed_form.Ehrlich` (pytorch-holo 0.0.5) for a few settings and
stores, per setting, its motifs, spacings, infeasible transitions and its values on 128
sequences (feasible chain samples, uniform random sequences, mutants of the optimum and the
optimum itself) in `tests/oracles/data/ehrlich_reference_values.json`;
`tests/oracles/test_ehrlich.py` checks `sciloop.oracles.ehrlich.Ehrlich` against them (the
library's `-inf` for an infeasible sequence is stored as null; sciloop scores it 0).

Run it in a separate environment (pytorch-holo pins numpy<2; keep torch at the project's
version so the random draws are the same):

    python -m venv /tmp/holo && /tmp/holo/bin/pip install torch==2.13.0 pytorch-holo==0.0.5
    /tmp/holo/bin/python benchmarks/ehrlich_reference.py [--out tests/oracles/data/ehrlich_reference_values.json]

(`pip install --no-deps pytorch-holo==0.0.5 pooch` into a venv that sees this project's
packages through a `.pth` file works too: only torch and botorch are needed.)
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

#: (num_states, length, num_motifs, motif_length, quantization, epistasis_factor, seed)
SETTINGS = [
    (20, 32, 2, 4, 4, 0.0, 0),
    (20, 32, 2, 4, 2, 0.0, 1),
    (32, 64, 4, 4, 4, 0.0, 2),
    (32, 128, 8, 4, 4, 0.0, 0),
    (8, 16, 2, 3, 3, 0.0, 3),
    (20, 40, 2, 6, 3, 0.0, 4),
    (20, 32, 2, 4, 4, 0.5, 5),
]


def sequences(f, gen: torch.Generator) -> tuple[list[str], torch.Tensor]:
    """128 sequences of state indices, each labelled with how it was made."""
    feasible = f.initial_solution(n=48)
    uniform = torch.randint(f.num_states, (32, f.dim), generator=gen)
    best = f.optimal_solution()
    mutants = best.repeat(47, 1)
    for row in mutants:
        for _ in range(int(torch.randint(1, 4, (1,), generator=gen))):
            row[int(torch.randint(f.dim, (1,), generator=gen))] = int(torch.randint(f.num_states, (1,), generator=gen))
    X = torch.cat([feasible, uniform, mutants, best[None]])
    kinds = ["chain"] * 48 + ["uniform"] * 32 + ["mutant"] * 47 + ["optimum"]
    return kinds, X


def main() -> None:
    from holo.test_functions.closed_form import Ehrlich

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("tests/oracles/data/ehrlich_reference_values.json"))
    args = ap.parse_args()
    import holo

    cases = []
    for v, length, c, k, q, e, seed in SETTINGS:
        f = Ehrlich(num_states=v, dim=length, num_motifs=c, motif_length=k, quantization=q,
                    epistasis_factor=e, random_seed=seed)
        kinds, X = sequences(f, torch.Generator().manual_seed(1000 + seed))
        values = f.evaluate_true(X).tolist()
        cases.append(dict(
            num_states=v, length=length, num_motifs=c, motif_length=k, quantization=q,
            epistasis_factor=e, seed=seed,
            motifs=[m.tolist() for m in f.motifs], spacings=[s.tolist() for s in f.spacings],
            infeasible=(f.transition_matrix == 0).nonzero().tolist(),
            kinds=kinds, designs=X.tolist(),
            values=[None if math.isinf(y) else y for y in values]))
        print(f"v={v} L={length} c={c} k={k} q={q} e={e} seed={seed}: "
              f"{sum(y is not None for y in cases[-1]['values'])}/{len(values)} feasible, "
              f"max {max(y for y in values if not math.isinf(y)):.3f}")
    meta = dict(library=f"pytorch-holo {getattr(holo, '__version__', '0.0.5')}", torch=torch.__version__,
                note="values of holo's Ehrlich.evaluate_true; null = -inf (infeasible)")
    args.out.write_text(json.dumps(dict(meta=meta, cases=cases)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
