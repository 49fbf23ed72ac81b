"""Campaign loop, configs, ledger, MLflow tracking and the `sciloop` CLI."""
