# Two commands do the whole set-up on a fresh machine with Python >= 3.11:
#   make demo   -> virtual environment, torch (CPU wheel) first, sciloop, then the quickstart campaign
#   make test   -> the same set-up, then the whole test suite (what CI runs), timed
#   make test-fast -> the unit tier: no Ray, MLflow server or subprocess (`-m "not slow"`)
#   make lint   -> ruff, then mypy over the public interfaces (config in pyproject.toml)
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
# Extra pip options for the torch install alone, e.g. an index of PyTorch's CPU builds:
# make demo TORCH_PIP_ARGS="--index-url <PyTorch's CPU wheel index>"
TORCH_PIP_ARGS ?=
BIN    := $(VENV)/bin

.PHONY: demo test test-fast lint install clean

demo: $(VENV)/.installed
	$(BIN)/sciloop run configs/quickstart.yaml

# The whole suite, with the 15 slowest tests and the total time. Budget: <= 12 minutes on 2 quiet
# cores (load average < 1.5); the `slow` tier takes all but about one minute of it. Two pytest-xdist
# workers, a test file per worker at a time (module fixtures are built once): much of a slow test is
# waiting on Ray, MLflow or a subprocess, so two keep both cores busy. PYTEST_ARGS adds pytest
# options, e.g. PYTEST_ARGS="-m slow"; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: $(VENV)/.installed
	@start=$$(date +%s); status=0; \
	$(BIN)/python -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS) || status=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s wall, load average $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	exit $$status

# The unit tier for iteration: tests marked `slow` in tests/conftest.py are left out (Ray, MLflow
# servers, subprocesses, long training runs). Under 2 minutes on 2 cores.
test-fast: $(VENV)/.installed
	@start=$$(date +%s); status=0; \
	$(BIN)/python -m pytest -q -m "not slow" --durations=5 $(PYTEST_ARGS) || status=$$?; \
	echo "make test-fast: $$(( $$(date +%s) - start )) s wall, load average $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	exit $$status

# mypy cannot follow setuptools' editable import hook for the package-dir mapping
# (sciloop.oracles -> oracles/): it checks the folders through links in build/lint/sciloop.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	@mkdir -p build/lint/sciloop
	@for p in oracles pipeline proposers surrogates; do ln -sfn ../../../$$p build/lint/sciloop/$$p; done
	$(BIN)/mypy

install: $(VENV)/.installed

# torch is pinned in every pip command: botorch or torch-geometric installed without the pin
# would pull a multi-GB CUDA build of torch.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH)"
	$(BIN)/pip install --quiet "$(TORCH)" -e ".[test]"
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info
