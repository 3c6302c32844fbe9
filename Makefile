# One-command entry points; each creates .venv on first use and reuses it after.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo space test lint bench mutation

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,space]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/bioscan-hf demo --out work/demo_out $(ARGS)

space: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) spaces/bioscan-retrieval/app.py $(ARGS)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m ruff check bioscan_hf tests bench dataset_script spaces
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n 2 --dist worksteal --durations=15 $(ARGS)

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/bench_metadata_reader.py

# Not in CI (minutes): the planted bugs the suite must catch, then mutmut over the core rules (pyproject).
mutation: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) tests/mutation/planted.py
	$(PY) -m pip install --quiet mutmut
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(VENV)/bin/mutmut run --max-children 2 $(ARGS)  # 1 thread: no fork deadlock
	$(VENV)/bin/mutmut results
