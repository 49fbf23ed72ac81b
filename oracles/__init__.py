"""Oracles: the ground-truth scorers, their adapters and the parallel batch runner on Ray.

- `base`: the contract (`Oracle`, `OracleResult`, `RetryPolicy`, `FunctionOracle`, errors);
- `calling`: one call on a worker, every failure typed (no Ray);
- `pools`, `runner`: Ray tasks or actor pools, and the runner that never lets Ray retry;
- `external`, `handoff`, `registry`: external commands, lab hand-off files, entry-point plug-ins;
- `molecular`, `guacamol`, `pmo`: built-in rdkit objectives (the PMO suite without models);
- `ehrlich`: Ehrlich functions (closed-form sequence objectives with a known optimum);
- `synthetic`: the hypergrid reward and toy functions (one of them two-objective).
"""
