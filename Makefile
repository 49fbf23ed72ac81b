# Two commands do the whole set-up on a fresh machine with Python >= 3.11:
#   make demo   -> virtual environment, torch (CPU wheel) first, sciloop, then the quickstart campaign
#   make test   -> the same set-up, then the test suite
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin

.PHONY: demo test install clean

demo: $(VENV)/.installed
	$(BIN)/sciloop run configs/quickstart.yaml

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

install: $(VENV)/.installed

# torch is pinned in every pip command: botorch or torch-geometric installed without the pin
# would pull a multi-GB CUDA build of torch.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet "$(TORCH)" -e ".[test]"
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info
