# Two commands matter: `make run` (install, then open Cockpit on the paper exchange) and
# `make test` (install, then lint, type-check and run the whole suite). Both create .venv on
# first use and reinstall only when pyproject.toml or constraints.txt change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip --disable-pip-version-check -q
STAMP   = $(VENV)/.installed

.PHONY: run test lint typecheck pytest smoke screenshot journeys install clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), f"Python 3.11+ needed, found {sys.version.split()[0]}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cockpit

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check cockpit tests
	$(BIN)/ruff format --check cockpit tests

typecheck: $(STAMP)
	$(BIN)/mypy cockpit/domain cockpit/pricing cockpit/strategies cockpit/broker cockpit/marketdata cockpit/store cockpit/execution cockpit/risk cockpit/bench

pytest: $(STAMP)
	$(BIN)/pytest -q

smoke: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/cockpit --smoke

# See the window without a display: a real X server (apt-get install xvfb), one PNG per size.
screenshot: $(STAMP)
	for size in 1366x768 1920x1080; do \
	  xvfb-run -a -s "-screen 0 $${size}x24" $(BIN)/cockpit --smoke --size $$size \
	    --screenshot screenshots/cockpit-$$size.png || exit 1; \
	done

# The README's journey screenshots: the four-journeys test under a real X server (Xvfb).
journeys: $(STAMP)
	COCKPIT_JOURNEY_SCREENSHOTS=resources/screenshots QT_QPA_PLATFORM=xcb \
	  xvfb-run -a -s "-screen 0 1600x900x24" $(BIN)/pytest -q -p no:randomly tests/ui/test_journeys.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
