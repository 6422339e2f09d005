# The two set-up commands of the README: `make run` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test test-py310 run lint bench gpu-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: this exact CPU build lies on disk; a bare range would fetch a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,models]'
	touch $(STAMP)

test: lint
	$(PY) -m pytest -q tests

# test-py310: Python 3.10 (Ubuntu 22.04's) without torch, installed as an operator would:
# `pip install .`, not editable (so tests/launcher/test_no_torch.py runs the installed `mesh`),
# reinstalled each run. mypy already checks every module against 3.10's standard library
# (python_version in pyproject.toml), so this run is about the interpreter and the install: the
# directories below (config, launcher, the wire and agents, scale, legacy, DR, VRAM, chaos), less
# the tests marked torch (model agents) and slow (over 15 s: make test runs those on every
# commit). About 3 min on 2 cores; the hub, security and migration tests run in make test only
# (PY310_TESTS=tests runs them all here too, about 7 min).
PY310_TESTS ?= tests/config tests/launcher tests/foundation tests/scale tests/legacy tests/dr \
               tests/vram tests/chaos tests/mesh
PY310    ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python) python3.10)
VENV310  ?= .venv310
STAMP310 := $(VENV310)/.installed

$(STAMP310): pyproject.toml
	test -x $(VENV310)/bin/python || $(PY310) -m venv $(VENV310)
	$(VENV310)/bin/python -m pip install --quiet --upgrade pip
	$(VENV310)/bin/python -m pip install --quiet '.[test]'
	touch $(STAMP310)

test-py310: $(STAMP310)
	rm -rf build  # setuptools' staging folder: a module deleted since would ship from it
	$(VENV310)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	@! $(VENV310)/bin/python -c 'import torch' 2>/dev/null || \
	  { echo "$(VENV310) has torch: test-py310 is the suite without it"; exit 1; }
	$(VENV310)/bin/python -m pytest -q -m 'not torch and not slow' $(PY310_TESTS)

lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --ignore-missing-imports common service_registry

# run: start both hosts in the background, print progress until every agent is ready (or give
# up after READY_TIMEOUT_S and stop), print the dashboard URL, then wait; Ctrl-C runs `mesh down`.
MESH   := $(VENV)/bin/mesh
CONFIG ?= startup_config.yaml
READY_TIMEOUT_S ?= 180

run: $(STAMP)
	@echo "Starting the reference mesh ($(CONFIG)): 77 agents + the VRAM pool on main_pc and pc2."
	@trap '$(MESH) down --config $(CONFIG); exit 130' INT TERM HUP; \
	$(MESH) up --host all --config $(CONFIG) --detach || exit 1; \
	deadline=$$(( $$(date +%s) + $(READY_TIMEOUT_S) )); \
	while :; do \
	  n=$$($(MESH) status --config $(CONFIG) 2>/dev/null | grep -Eo '[0-9]+/[0-9]+ agents ready' | cut -d' ' -f1); \
	  echo "  $${n:-0/?} agents ready"; \
	  [ -n "$$n" ] && [ "$${n%/*}" = "$${n#*/}" ] && [ "$${n%/*}" -gt 0 ] && break; \
	  if [ $$(date +%s) -ge $$deadline ]; then \
	    echo "not every agent ready after $(READY_TIMEOUT_S) s; stopping (see logs/)"; \
	    $(MESH) down --config $(CONFIG); exit 1; fi; \
	  sleep 1; \
	done; \
	echo "All agents ready. Dashboard: http://127.0.0.1:9000/   (Ctrl-C stops everything)"; \
	while :; do sleep 3600; done

# gpu-check: on a machine with an NVIDIA GPU (and torch's CUDA build in $(VENV)): the nvml backend,
# a CUDA model agent under the pool and the warm tier's pinned copies; each skip says why.
gpu-check: $(STAMP)
	$(PY) -m pytest -q -rs -m gpu tests/vram

bench: $(STAMP)
	$(PY) benchmarks/discovery.py
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(VENV) $(VENV310)
