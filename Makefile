# The two commands of the README: `make run` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-fast lint typecheck pytest screenshots settings-doc clean lock

# Workers for the whole suite; PYTEST_WORKERS=0 runs it in one process (easier to debug).
# Six on two cores: many tests wait on real time, and a sixth worker fills more of those
# gaps (245-247 s against 284 s with five, one after the other; docs/BENCHMARKS.md).
PYTEST_WORKERS ?= 6

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installed from the locks (exact versions, hashes checked), then the project itself without
# resolving anything again. `make lock` updates them (README, "Choices").
LOCK_OPTIONS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
PIP_TOOLS := pip-tools==7.7.0

$(STAMP_RUN): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(STAMP_TEST): requirements-test.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-test.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(STAMP_RUN)

# Newest versions inside pyproject.toml's ranges, with hashes, into both locks. The runtime
# lock starts from the test lock's pins, so the two never disagree. Then raise pyproject's
# lower bounds to the new pins (tests/test_lock.py names each one behind).
lock: | $(BIN)/python
	$(BIN)/pip install --quiet $(PIP_TOOLS)
	$(BIN)/pip-compile $(LOCK_OPTIONS) --upgrade --extra test -o requirements-test.lock pyproject.toml
	cp requirements-test.lock requirements.lock
	$(BIN)/pip-compile $(LOCK_OPTIONS) -o requirements.lock pyproject.toml

# Runs exactly the Procfile's web command, so what runs here is what a platform runs.
run: $(STAMP_RUN)
	PATH="$(CURDIR)/$(BIN):$$PATH" exec sh -c "$$(sed -n 's/^web: //p' Procfile)"

lint: $(STAMP_TEST)
	$(BIN)/ruff check server tests bench
	$(BIN)/ruff format --check server tests bench

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

# Bytecode written even where the machine says not to (PYTHONDONTWRITEBYTECODE): the suite
# starts ~200 Python processes (services, CLI commands, benchmarks), and each compiled every
# module of server/ from source again, 13% of the CPU of the process-heavy tests.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest

pytest: $(STAMP_TEST)
	$(PYTEST) -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The three checks side by side: ruff and a cold mypy take one core for ~10 s while the pytest
# workers are still starting, the least busy stretch of the run. Any one failing fails the target.
test: $(STAMP_TEST)
	$(MAKE) --no-print-directory -j3 lint typecheck pytest

# The editing loop: everything but the browser, real processes, benchmarks and the fuzzer.
test-fast: $(STAMP_TEST)
	$(PYTEST) -n $(PYTEST_WORKERS) --dist loadgroup -m "not slow and not browser" $(PYTEST_ARGS)

# Refreshes the pictures of the README and docs/PAGES.md: the browser tests save each page state at phone size.
screenshots: $(STAMP_TEST)
	SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest -m browser

# Rewrites docs/SETTINGS.md's configuration table from the declarations in server/settings/variables.py.
settings-doc: $(STAMP_RUN)
	$(BIN)/python -m server.settings.doc_table --write docs/SETTINGS.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
