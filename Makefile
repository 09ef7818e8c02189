# Everything starts from a fresh clone: the first target that needs the environment builds it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test models bench clean uplink-demo

$(STAMP): pyproject.toml ground/console_static/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,campaign,spacecraft,console]'
	npm ci --prefix ground/console_static --no-audit --no-fund --loglevel=error  # Open MCT for `ground console` (issue 11)
	touch $(STAMP)

## demo: the lander under an accelerated solar storm, simplex against TMR with scrubbing, side by side
demo: $(STAMP)
	$(VENV)/bin/fault-inject campaign campaigns/demo.yaml --report demo-report

## uplink-demo: a signed patch uplinked to the flying lander over a 10% loss link, verified, activated
uplink-demo: $(STAMP)
	$(PY) scripts/uplink_demo.py

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
