# Two entry points for a fresh clone (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The torch build to install first. On a CUDA machine, e.g.:
#   make demo TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

BIN := $(VENV)/bin

.PHONY: setup demo test ui cluster validate bench clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH) $(TORCH_INDEX)
	$(BIN)/pip install --quiet -e '.[dev]' -c constraints.txt
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/assetgen-dagster demo

test: setup
	$(BIN)/python -m pytest -n 2  # two pytest-xdist workers: whole modules each (conftest.py)

# The Dagster UI, daemon, watcher and one hot worker on the demo's storage, until Ctrl-C.
PORT ?= 3000
ui: setup
	$(BIN)/assetgen-dagster ui --port $(PORT)

# Redis, PostgreSQL, daemon, UI and one Celery worker per GPU (else 2 CPU workers) until Ctrl-C.
cluster: setup
	$(BIN)/assetgen-dagster cluster

validate: setup
	$(BIN)/assetgen-dagster validate

clean:
	rm -rf .dagster_home data/outputs .cache .cluster

bench: setup
	$(BIN)/python bench/run_all.py
