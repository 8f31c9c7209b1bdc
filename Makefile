# `make demo` runs the main job on the bundled data, `make test` the tests. Both create or
# reuse the project's virtual environment in .venv (built once; a stamp file marks it done).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= $(shell nproc)
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: env demo test bench complexity clean

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "setuptools>=77,<82" wheel ninja psutil numpy==2.4.6 torch==2.13.0
	# PyPI has mmcv 2.1.0 only as source: build it once with its compiled ops (pip caches the
	# wheel, so later clones on this machine reuse it). No debug info and one compile job per
	# core: the ops build is most of a first set-up.
	MMCV_WITH_OPS=1 MAX_JOBS=$(JOBS) CFLAGS=-g0 CXXFLAGS=-g0 $(PY) -m pip install -q --no-build-isolation mmcv==2.1.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $(STAMP)

demo: env
	$(PY) tools/train_test_infer.py

test: env
	$(PY) -m pytest -q tests

bench: env
	$(PY) tools/analysis_tools/benchmark_latency.py --rounds 10

complexity: env
	$(PY) tools/analysis_tools/parnet_complexity.py

clean:
	rm -rf work_dirs outputs data/shapes
