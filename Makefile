# Everything starts from a fresh clone: the first target that needs the environment builds it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test models bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,campaign,spacecraft]'
	touch $(STAMP)

## demo: fly five seeded LunarLander episodes with TMR on the embedded default model
demo: $(STAMP)
	$(VENV)/bin/flight fly --model models/lander-discrete --episodes 5 --seed 0 --redundancy tmr

## test: the whole test suite
test: $(STAMP)
	$(PY) -m pytest

## models: retrain and repackage the committed models (minutes; not part of CI)
models: $(STAMP)
	$(PY) models/build_all.py

## bench: benchmarks against plain onnxruntime (ratios measured in one run)
bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
