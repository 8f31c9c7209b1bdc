# `make demo` runs the main job on the bundled data, `make test` the tests. Both create or
# reuse the project's virtual environment in .venv (built once; a stamp file marks it done).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: env demo test test-slow bench complexity clean

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "setuptools>=77,<82" wheel ninja psutil numpy==2.4.6 torch==2.13.0
	# PyPI has mmcv 2.1.0 only as source: build it with its compiled ops (pip caches the wheel).
	MMCV_WITH_OPS=1 $(PY) -m pip install -q --no-build-isolation mmcv==2.1.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $(STAMP)

demo: env
	$(PY) tools/demo.py

test: env
	$(PY) -m pytest -q tests

test-slow: env
	$(PY) -m pytest -q -m slow tests

bench: env
	$(PY) tools/analysis_tools/benchmark_latency.py

complexity: env
	$(PY) tools/analysis_tools/parnet_complexity.py

clean:
	rm -rf work_dirs outputs data/shapes
