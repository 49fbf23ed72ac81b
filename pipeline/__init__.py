"""Campaign loop, configs, ledger, MLflow tracking and the `sciloop` CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sciloop")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
