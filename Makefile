# The two commands of the README:
#   make demo   set up, run the main job on the local stand-ins, show the result
#   make test   set up, lint, run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# If wheels/ holds a downloaded wheelhouse (make wheelhouse), installs use only it: no network needed.
PIP_OFFLINE := $(if $(wildcard wheels/*.whl),--no-index --find-links wheels,)

.PHONY: setup demo test lint bench wheelhouse clean

$(BIN)/.installed: requirements/dev.txt klaviyo-sandbox/pyproject.toml tap-klaviyo/pyproject.toml klaviyo-rate-limits/pyproject.toml local-stand-ins/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_OFFLINE) -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_OFFLINE) --no-deps -e klaviyo-sandbox -e klaviyo-rate-limits -e tap-klaviyo -e local-stand-ins
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/python scripts/demo.py

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/sandbox_pages.py

wheelhouse: setup
	$(BIN)/python -m pip download --quiet --disable-pip-version-check -r requirements/dev.txt -d wheels

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
