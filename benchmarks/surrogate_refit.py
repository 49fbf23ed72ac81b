"""How long does the default ensemble take to refit on 10,000 labels, and what do the limits cost?

Two modes, both offline (rdkit's bundled molecule sets):

* ``timing``: featurize and refit the default ensemble (K=5 MLPs on Morgan counts) on the
  10k WEHI SMILES (``wehi_mols.csv``) labelled with MolLogP; prints the split featurize /
  fit / calibrate in wall and CPU seconds with the load average, for each ``--limits`` setting
  and each ``--threads`` value. CPU seconds of a one-thread fit are what an idle core needs
  (on a machine shared with busy processes the wall time only measures the sharing).
  ``refit_total`` is a refit with a warm featurizer cache (every round after the first):
  assembling the feature matrix, training, and the spread's calibration.
* ``quality``: at the quickstart's label counts (100-500), held-out Spearman, NLL and
  miscalibration area of each ``--limits`` setting on NCI ``first_5K.smi`` labelled with
  rdkit objectives (celecoxib similarity is the quickstart's oracle), averaged over seeds.

A limits setting is ``patience:max_steps`` with ``none`` for off, e.g. ``none:none`` (what the
campaign runs today), ``10:400`` (the surrogates package defaults).

    python benchmarks/surrogate_refit.py timing [--n 10000] [--threads 1 2] [--limits 10:400]
    python benchmarks/surrogate_refit.py quality [--sizes 100 300 500] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors
from sciloop.surrogates import EnsembleConfig, EnsembleSurrogate, MorganFeaturizer
from sciloop.surrogates.metrics import prospective_metrics

# the data sets and objectives of benchmarks/surrogates.py (by path: a top-level
# ``surrogates/`` folder would shadow it as a module name)
_spec = importlib.util.spec_from_file_location(
    "surrogate_curves", os.path.join(os.path.dirname(os.path.abspath(__file__)), "surrogates.py"))
_curves = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_curves)
NCI, WEHI, load_smiles, objectives = _curves.NCI, _curves.WEHI, _curves.load_smiles, _curves.objectives


def parse_limits(text: str) -> tuple[int | None, int | None]:
    """``"10:400"`` -> ``(10, 400)``; ``"none"`` parts are None."""
    patience, max_steps = (None if part.lower() == "none" else int(part)
                           for part in text.split(":"))
    return patience, max_steps


def config(limits: str, args: argparse.Namespace, seed: int, threads: int | None) -> EnsembleConfig:
    """The default ensemble with the given limits (and the campaign's epochs)."""
    patience, max_steps = parse_limits(limits)
    return EnsembleConfig(members=5, epochs=args.epochs, patience=patience, max_steps=max_steps,
                          seed=seed, num_threads=threads)


def timing(args: argparse.Namespace) -> list[dict]:
    """Featurize and refit on ``args.n`` WEHI molecules, for each limits and thread count."""
    mols = load_smiles(WEHI, limit=args.n)
    smiles = [Chem.MolToSmiles(m) for m in mols]
    y = [Descriptors.MolLogP(m) for m in mols]
    rows = []
    for limits in args.limits:
        for threads in args.threads:
            featurizer = MorganFeaturizer()  # a cold cache: the first round of a campaign
            surrogate = EnsembleSurrogate(featurizer, config(limits, args, 0, threads))
            load_before = os.getloadavg()[0]
            t, c = time.perf_counter(), time.process_time()
            surrogate.features(smiles)
            featurize, featurize_cpu = time.perf_counter() - t, time.process_time() - c
            t, c = time.perf_counter(), time.process_time()
            stats = surrogate.fit(smiles, y)  # the cache is warm now, as in later rounds
            total, total_cpu = time.perf_counter() - t, time.process_time() - c
            row = {"limits": limits, "threads": threads, "n": len(smiles),
                   "featurize_s": featurize, "featurize_cpu_s": featurize_cpu,
                   "fit_s": stats["fit_seconds"], "fit_cpu_s": stats["fit_cpu_seconds"],
                   "calibrate_and_rest_s": total - stats["fit_seconds"],
                   "refit_total_s": total, "refit_total_cpu_s": total_cpu,
                   "epochs": stats["epochs"], "steps": stats["steps"],
                   "val_mse": stats["val_mse"], "load_before": load_before,
                   "load_after": os.getloadavg()[0]}
            rows.append(row)
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                              for k, v in row.items()}), flush=True)
    return rows


def quality(args: argparse.Namespace) -> list[dict]:
    """Held-out accuracy and calibration per limits setting at small label counts."""
    mols = load_smiles(NCI)
    smiles = [Chem.MolToSmiles(m) for m in mols]
    funcs = objectives()
    labels = {k: np.array([funcs[k](m) for m in mols]) for k in args.objectives}
    rows = []
    for seed in args.seeds:
        perm = np.random.default_rng(seed).permutation(len(smiles))
        test, pool = perm[: args.test], perm[args.test:]
        for objective in args.objectives:
            y = labels[objective]
            for size in args.sizes:
                train = pool[:size]
                for limits in args.limits:
                    surrogate = EnsembleSurrogate(MorganFeaturizer(),
                                                  config(limits, args, seed, args.threads[0]))
                    stats = surrogate.fit([smiles[i] for i in train], y[train].tolist())
                    mean, std = surrogate.predict([smiles[i] for i in test])
                    m = prospective_metrics(mean, std, y[test])
                    row = {"objective": objective, "n_train": size, "seed": seed,
                           "limits": limits, "epochs": stats["epochs"],
                           "fit_s": stats["fit_seconds"], "fit_cpu_s": stats["fit_cpu_seconds"],
                           **{k: m[k] for k in ("spearman", "nll", "miscalibration_area")},
                           "load": os.getloadavg()[0]}
                    rows.append(row)
                    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                      for k, v in row.items()}), flush=True)
    keys = ("spearman", "nll", "miscalibration_area", "epochs", "fit_cpu_s")
    print(f"{'objective':<10} {'n':>4} {'limits':<10} {'seeds':>5} {'spearman':>8} {'nll':>7} "
          f"{'miscal':>7} {'epochs':>6} {'cpu_s':>6}")
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["objective"], row["n_train"], row["limits"]), []).append(row)
    for (objective, n, limits), group in groups.items():
        v = {k: float(np.mean([r[k] for r in group])) for k in keys}
        print(f"{objective:<10} {n:>4} {limits:<10} {len(group):>5} {v['spearman']:>8.3f} "
              f"{v['nll']:>7.3f} {v['miscalibration_area']:>7.3f} {v['epochs']:>6.0f} "
              f"{v['fit_cpu_s']:>6.1f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["timing", "quality"])
    parser.add_argument("--n", type=int, default=10_000, help="timing: labelled molecules")
    parser.add_argument("--limits", nargs="+", default=["none:none", "10:400"],
                        help="patience:max_steps settings ('none' for off)")
    parser.add_argument("--threads", nargs="+", type=int, default=[1],
                        help="torch threads while fitting (quality uses the first)")
    parser.add_argument("--epochs", type=int, default=150, help="the quickstart's epochs")
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 300, 500])
    parser.add_argument("--objectives", nargs="+", default=["celecoxib", "qed", "logp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    rows = timing(args) if args.mode == "timing" else quality(args)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
