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

bench: $(STAMP)
	$(PY) benchmarks/discovery.py
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(VENV)
