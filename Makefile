# Porchlight: `make run` serves the app with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check

.PHONY: run test bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Locked dependencies (hashes checked), then the project itself and the edge agent (edge/, its own project).
$(VENV)/.app-installed: requirements.lock pyproject.toml edge/pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements.lock
	$(PIP) install --quiet --no-deps -e . -e edge/
	touch $@

$(VENV)/.dev-installed: requirements-dev.lock pyproject.toml edge/pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements-dev.lock
	$(PIP) install --quiet --no-deps -e . -e edge/
	touch $@ $(VENV)/.app-installed

run: $(VENV)/.app-installed
	$(BIN)/porchlight migrate
	$(BIN)/porchlight demo
	$(BIN)/porchlight serve

# Browser tests use Debian's Chromium (/usr/bin/chromium) and the edge agent's tests Debian's ffmpeg as a camera;
# whichever is missing is installed here (one apt-get update) when we are root, with npm for axe-core (the
# accessibility checks of the browser tests, locked in tests/e2e/axe).
# The tests run in TEST_WORKERS processes (pytest-xdist); `make test PYTEST_ARGS="-n 0 -k ..."` runs them in one.
TEST_WORKERS ?= 3
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
test: $(VENV)/.dev-installed
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's$$missing for the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@$(MAKE) --no-print-directory $(AXE)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

$(AXE): tests/e2e/axe/package-lock.json
	npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent
	touch $@

bench: $(VENV)/.dev-installed
	./bench/install-tools
	$(BIN)/python -m bench

# Re-resolve the locks after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(PIP) install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra edge --python-version 3.11 --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra edge --python-version 3.11 --generate-hashes -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache
