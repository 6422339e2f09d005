# The two set-up commands of the README: `make run` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test run lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: this exact CPU build lies on disk; a bare range would fetch a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: lint
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --ignore-missing-imports common service_registry

run: $(STAMP)
	@echo "Starting the reference mesh (startup_config.yaml): 77 agents + the VRAM pool on main_pc and pc2."
	@echo "Progress below (waves, each agent ready); dashboard: http://127.0.0.1:9000/  Ctrl-C stops everything."
	$(VENV)/bin/mesh up --host all --config startup_config.yaml

bench: $(STAMP)
	$(PY) benchmarks/discovery.py
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(VENV)
