# Two commands matter: `make run` (the whole product on this machine) and `make test`.
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python
# pip runs again only when requirements.txt is newer than this stamp.
STAMP := $(VENV)/.requirements-installed
# First Python >= 3.12 wins; pyenv shims for versions not selected fail the check and are skipped.
PYTHON_CANDIDATES := python3.13 python3.12 python3 $(wildcard /root/.pyenv/versions/3.1[23]*/bin/python)
PORT ?= 8000
# Two workers: the suite (1,400 tests, browser walks included) takes half the time on 2 cores.
PYTEST_ARGS ?= -n 2

.PHONY: install run test migrate seed bench

install: $(STAMP)

$(PY):
	@for candidate in $(PYTHON_CANDIDATES); do \
	  if $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
	    echo "Creating $(VENV) with $$($$candidate -c 'import sys; print(sys.executable)') ($$($$candidate -V 2>&1))"; \
	    $$candidate -m venv $(VENV) && exit 0; \
	  fi; \
	done; \
	echo "No Python >= 3.12 found (tried: $(PYTHON_CANDIDATES))." >&2; exit 1

$(STAMP): requirements.txt | $(PY)
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { \
	  echo "$(VENV) uses $$($(PY) -V 2>&1); Django needs Python >= 3.12. Delete $(VENV) and run make install." >&2; exit 1; }
	$(PY) -m pip install --disable-pip-version-check --quiet -r requirements.txt
	@touch $@

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_schedules

# seed_demo is idempotent; until it exists, say so and carry on.
seed: migrate
	@if $(PY) manage.py help seed_demo >/dev/null 2>&1; then \
	  $(PY) manage.py seed_demo; \
	else \
	  echo "manage.py seed_demo is not available yet: no demo data loaded."; \
	fi

run: seed
	PORT=$(PORT) PY=$(PY) scripts/run.sh

# Exit code 5 (no tests collected) fails the target like any other non-zero code.
test: install
	DJANGO_SETTINGS_MODULE=settings.test $(PY) -m pytest $(PYTEST_ARGS)

bench: install
	@scripts=$$(ls bench/*.py 2>/dev/null); \
	if [ -z "$$scripts" ]; then echo "No benchmark scripts in bench/ yet."; exit 0; fi; \
	echo "Benchmark scripts (run one with: $(PY) bench/<name>.py; see README.md, Benchmarks):"; \
	for script in $$scripts; do echo "  $$script"; done
