"""Which surrogate should be the default? Learning curves and refit time on offline molecules.

Two modes, both on rdkit's bundled molecule sets (no network):

* ``curves``: NCI ``first_5K.smi`` labelled with built-in rdkit objectives (QED, MolLogP, and
  Tanimoto similarity to celecoxib on ECFP4 count fingerprints). A fixed random test set is
  held out; each surrogate is fitted on the first 100, 300, 1000, 3000 of the remaining
  molecules and scored on the test set: Spearman, RMSE, Gaussian NLL, miscalibration area,
  fit seconds. Surrogates: ``mlp`` (MLP ensemble on Morgan counts), ``gnn`` (GINE ensemble),
  ``gp`` (exact GP, Tanimoto kernel on Morgan counts). Each ensemble fit is scored twice:
  with its recalibrated spread (``mlp``, ``gnn``) and with the raw member spread
  (``mlp-raw``, ``gnn-raw``). A table of means over seeds closes the output.
* ``timing``: refit of an ensemble on the 10k WEHI SMILES (``wehi_mols.csv``) labelled with
  MolLogP, with the load average before and after (the machine may be shared).

    python benchmarks/surrogates.py curves [--sizes 100 300 1000 3000] [--surrogates mlp gnn gp]
        [--objectives qed logp celecoxib] [--test 1000] [--seeds 0]
    python benchmarks/surrogates.py timing [--n 10000] [--hidden 256] [--layers 2] ...
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections.abc import Callable

import numpy as np
import rdkit
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import QED, Descriptors, rdFingerprintGenerator
from sciloop.surrogates import EnsembleConfig, EnsembleSurrogate, MorganFeaturizer
from sciloop.surrogates.members import make_surrogate as build_surrogate
from sciloop.surrogates.metrics import prospective_metrics

DATA = os.path.join(os.path.dirname(rdkit.__file__), "Data")
NCI = os.path.join(DATA, "NCI", "first_5K.smi")
WEHI = os.path.join(DATA, "Pains", "test_data", "wehi_mols.csv")
CELECOXIB = "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F"


def load_smiles(path: str, limit: int | None = None) -> list[Chem.Mol]:
    """Parse column 0 of a SMILES file into distinct canonical molecules (invalid ones dropped)."""
    mols, seen = [], set()
    with open(path) as fh, rdBase.BlockLogs():
        rows = csv.reader(fh) if path.endswith(".csv") else (line.split() for line in fh)
        for row in rows:
            mol = Chem.MolFromSmiles(row[0]) if row else None
            if mol is None or mol.GetNumAtoms() == 0:
                continue
            key = Chem.MolToSmiles(mol)
            if key not in seen:
                seen.add(key)
                mols.append(mol)
            if limit is not None and len(mols) == limit:
                break
    return mols


def objectives() -> dict[str, Callable[[Chem.Mol], float]]:
    """The built-in rdkit objectives: name -> function of a molecule."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2)
    ref = gen.GetCountFingerprint(Chem.MolFromSmiles(CELECOXIB))

    def celecoxib(mol: Chem.Mol) -> float:
        return DataStructs.TanimotoSimilarity(ref, gen.GetCountFingerprint(mol))

    return {"qed": QED.qed, "logp": Descriptors.MolLogP, "celecoxib": celecoxib}


def make_surrogate(name: str, args: argparse.Namespace, seed: int):
    """A fresh surrogate of the named kind with the benchmark's settings."""
    config = EnsembleConfig(members=args.members, hidden=args.hidden, layers=args.layers,
                            epochs=args.epochs, batch_size=args.batch_size,
                            patience=args.patience, max_steps=args.max_steps, seed=seed,
                            num_threads=args.threads)
    if name == "mlp":
        return EnsembleSurrogate(MorganFeaturizer(), config)
    if name == "gnn":
        from sciloop.surrogates import GraphFeaturizer
        config.member, config.hidden, config.layers = "gnn", args.gnn_hidden, args.gnn_layers
        config.lr = args.gnn_lr
        return EnsembleSurrogate(GraphFeaturizer(), config)
    if name == "gp":
        config.member = "gp"
        return build_surrogate(MorganFeaturizer(), config)
    raise ValueError(f"unknown surrogate {name!r}")


def curves(args: argparse.Namespace) -> list[dict]:
    """Learning curves: one row per (objective, surrogate, size, seed)."""
    mols = load_smiles(NCI)
    smiles = [Chem.MolToSmiles(m) for m in mols]
    funcs = objectives()
    labels = {k: np.array([funcs[k](m) for m in mols]) for k in args.objectives}
    results = []
    for seed in args.seeds:
        perm = np.random.default_rng(seed).permutation(len(smiles))
        test, pool = perm[: args.test], perm[args.test:]
        for objective in args.objectives:
            y = labels[objective]
            for name in args.surrogates:
                for size in args.sizes:
                    if size > len(pool):
                        continue
                    train = pool[:size]
                    if name in args.skip_at and size >= args.skip_at[name]:
                        continue
                    surrogate = make_surrogate(name, args, seed)
                    stats = surrogate.fit([smiles[i] for i in train], y[train].tolist())
                    variants = [(name, True)] + ([(f"{name}-raw", False)] if name != "gp" else [])
                    for label, calibrated in variants:
                        t = time.perf_counter()
                        mean, std = surrogate.predict([smiles[i] for i in test],
                                                      calibrated=calibrated)
                        m = prospective_metrics(mean, std, y[test])
                        row = {"objective": objective, "surrogate": label, "n_train": size,
                               "seed": seed, "fit_seconds": stats["fit_seconds"],
                               "predict_seconds": time.perf_counter() - t,
                               "epochs": stats.get("epochs", float("nan")),
                               **{k: m[k] for k in ("spearman", "rmse", "nll",
                                                    "miscalibration_area")},
                               "load": os.getloadavg()[0]}
                        results.append(row)
                        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                          for k, v in row.items()}), flush=True)
    print_table(results)
    return results


def print_table(results: list[dict]) -> None:
    """Means over seeds: one line per (objective, surrogate, n_train)."""
    keys = ("spearman", "nll", "miscalibration_area", "fit_seconds", "load")
    groups: dict[tuple, list[dict]] = {}
    for row in results:
        groups.setdefault((row["objective"], row["surrogate"], row["n_train"]), []).append(row)
    print(f"{'objective':<10} {'surrogate':<8} {'n':>5} {'seeds':>5} {'spearman':>8} "
          f"{'nll':>8} {'miscal':>7} {'fit_s':>7} {'load':>5}")
    for (objective, name, n), rows in groups.items():
        v = {k: float(np.mean([r[k] for r in rows])) for k in keys}
        print(f"{objective:<10} {name:<8} {n:>5} {len(rows):>5} {v['spearman']:>8.3f} "
              f"{v['nll']:>8.2f} {v['miscalibration_area']:>7.3f} {v['fit_seconds']:>7.1f} "
              f"{v['load']:>5.1f}")


def timing(args: argparse.Namespace) -> dict:
    """Refit time of one ensemble on ``args.n`` labelled WEHI molecules."""
    mols = load_smiles(WEHI, limit=args.n)
    smiles = [Chem.MolToSmiles(m) for m in mols]
    y = [Descriptors.MolLogP(m) for m in mols]
    surrogate = make_surrogate(args.surrogates[0], args, seed=0)
    t = time.perf_counter()
    surrogate.features(smiles)  # the featurizer cache is warm in a campaign (every round)
    featurize = time.perf_counter() - t
    load_before = os.getloadavg()
    stats = surrogate.fit(smiles, y)
    out = {"n": len(smiles), "threads": args.threads, "featurize_s": featurize,
           "load_before": load_before, "load_after": os.getloadavg(),
           **{k: stats[k] for k in ("fit_seconds", "fit_cpu_seconds", "epochs", "best_epoch",
                                    "steps", "val_mse", "train_rmse")}}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["curves", "timing"])
    parser.add_argument("--surrogates", nargs="+", default=["mlp", "gnn", "gp"])
    parser.add_argument("--objectives", nargs="+", default=["qed", "logp", "celecoxib"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 300, 1000, 3000])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--skip-at", nargs="*", default=[], metavar="NAME=SIZE",
                        help="skip a surrogate from this training size on (a slow machine)")
    parser.add_argument("--n", type=int, default=10_000, help="timing: labelled molecules")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=400)
    parser.add_argument("--gnn-hidden", type=int, default=64)
    parser.add_argument("--gnn-layers", type=int, default=3)
    parser.add_argument("--gnn-lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads while fitting")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    args.skip_at = {k: int(v) for k, v in (item.split("=") for item in args.skip_at)}
    result = curves(args) if args.mode == "curves" else timing(args)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
