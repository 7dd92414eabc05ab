# The two commands of the README:
#   make demo   set up, run the main job on the local stand-ins, show the result
#   make test   set up, lint, run the whole test suite (what CI runs)
# The Python the venvs are made from: Debian's /usr/bin/python3.11 where the machine has it with venv (its package
# python3.11-venv: ensurepip), else python3. pyenv's python3 here (3.11.7) is built with --enable-shared and without
# --enable-optimizations: the interpreter runs from libpython3.11.so, compiled position-independent, unprofiled;
# Debian's executable is linked statically (ldd: no libpython), built with PGO and LTO. Pure Python (recursion, json,
# dicts, objects) takes 25% less CPU on it; a clean clone's `make test` (cf872d1, 2026-12-05) 11:54 and 1,312 CPU-s
# on Debian's against 12:41 and 1,455 on pyenv's.
# `make PYTHON=...` picks another; venvs already made keep theirs: `make clean` and `rm -rf .meltano/extractors
# .meltano/loaders .meltano/utilities` first (the plugins' venvs; .meltano/meltano.db, the runs' record, stays).
DEBIAN_PYTHON := /usr/bin/python3.11
PYTHON ?= $(if $(shell $(DEBIAN_PYTHON) -m ensurepip --version 2>/dev/null),$(DEBIAN_PYTHON),python3)
VENV   := .venv
BIN    := $(VENV)/bin
# If wheels/ holds a downloaded wheelhouse (make wheelhouse), installs use only it: no network needed.
PIP_OFFLINE := $(if $(wildcard wheels/*.whl),--no-index --find-links wheels,)

.PHONY: setup demo demo-reverse test test-moved-clock lint bench wheelhouse dist clean

# The project's own packages, installed editable into the development venv (Meltano installs the plugins again,
# each in its own venv under .meltano/, from the pip_url in meltano.yml).
# Type-checked strictly (pyproject.toml [tool.mypy]): the plugins, the shared packages and the stand-ins.
TYPED := klaviyo-http/klaviyo_http tap-support/tap_support tap-klaviyo/tap_klaviyo target-klaviyo/target_klaviyo tap-csv/tap_csv \
	snowflake-emulator/snowflake_emulator klaviyo-sandbox/src/klaviyo_sandbox local-stand-ins/local_stand_ins \
	warehouse-sql/warehouse_sql

# Bytecode written once, at install: where PYTHONDONTWRITEBYTECODE is set (this machine, the container image) no
# process writes any, so every process compiled every module it imported again: 38% of a small `meltano run`'s CPU
# (61 s before, 37.8 s after, 2026-12-02). Python still reads .pyc files with that variable set, and recompiles in
# memory a source edited since. uv compiles what it installs (--compile-bytecode; UV_COMPILE_BYTECODE for the
# plugins Meltano installs with uv), and compileall the project's own packages.
COMPILE := $(BIN)/python -m compileall -q -j 0

PACKAGES := klaviyo-sandbox klaviyo-http tap-support tap-klaviyo target-klaviyo tap-csv snowflake-emulator local-stand-ins warehouse-sql

# uv (the version the lock pins, installed first with pip) installs the lock: 7 s where pip took 68 s (2026-12-04),
# bytecode compiled as pip did. The project's packages are built with the lock's setuptools, no isolated build env.
UV_PIN := $(shell grep -m1 '^uv==' requirements/dev.txt)
UV_INSTALL := $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode $(PIP_OFFLINE)

$(BIN)/.installed: requirements/dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_OFFLINE) $(UV_PIN)
	$(UV_INSTALL) -r requirements/dev.txt
	$(UV_INSTALL) --no-deps --no-build-isolation $(addprefix -e ,$(PACKAGES))
	$(COMPILE) $(PACKAGES)
	touch $@

# The plugins that run the Snowflake emulator locally: fakesnow translates each statement with sqlglot in Python.
# Here they also get sqlglot's compiled build (sqlglotc, the same release: sqlglot's `c` extra). The loader's CPU for
# a first and an incremental run of two accounts on the stand-ins: 21.8 and 20.8 CPU-s without it, 16.2 and 14.5 with
# it (alternating installs, 2026-12-04); the whole run's 17% less. Not in their pip_url: production installs from the
# locks and never calls fakesnow, so its image does without the 87 MB a venv.
EMULATOR_VENVS := .meltano/loaders/target-snowflake .meltano/extractors/tap-snowflake \
	.meltano/utilities/dbt-snowflake .meltano/utilities/warehouse-sql
SQLGLOT_VERSION = $$($$venv/venv/bin/python -c 'import importlib.metadata as m; print(m.version("sqlglot"))')

# Every plugin of meltano.yml in its own venv (what `meltano run` executes).
# uv compiles each plugin's bytecode as it installs it, the plugins side by side: 23.6 s in all, where `meltano
# install` then compileall over the venvs took 9.0 + 19.3 s (a clean clone, 2026-12-04).
.meltano/.installed: $(BIN)/.installed meltano.yml $(addsuffix /pyproject.toml,$(PACKAGES))
	UV_COMPILE_BYTECODE=1 $(BIN)/meltano install
	for venv in $(EMULATOR_VENVS); do \
		$(BIN)/uv pip install --quiet --compile-bytecode --python $$venv/venv/bin/python $(PIP_OFFLINE) \
			"sqlglotc==$(SQLGLOT_VERSION)" || exit 1; \
	done
	touch $@

setup: $(BIN)/.installed .meltano/.installed

demo: setup
	$(BIN)/python scripts/demo.py

# From the warehouse back to Klaviyo: a table and a view in the emulator, `meltano run tap-snowflake target-klaviyo`.
demo-reverse: setup
	$(BIN)/python scripts/demo_reverse.py

# Lint needs the development venv only (hub_definitions.py asks the plugins installed there for --about).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)
	$(BIN)/python orchestrate/render.py --check
	$(BIN)/python packaging/hub_definitions.py --check

# The whole suite, on pytest-xdist workers: a module at a time per worker (pyproject.toml: --dist loadfile), the
# longest first (tests/suite_rules.py). TEST_WORKERS=0 runs it in this one process.
# Lint runs while Meltano installs the plugins (mypy takes one core, uv does not keep both busy): on a clean clone,
# the plugins' install and lint took 32.7 and 33.9 s one after the other, 28.1 and 29.2 s side by side (2026-12-05).
TEST_WORKERS ?= 3
test: $(BIN)/.installed
	$(MAKE) --no-print-directory -j2 --output-sync=target lint .meltano/.installed
	$(BIN)/pytest -n $(TEST_WORKERS)

# The whole suite again as if CLOCK_DAYS days later (a fraction moves the hour too), in every process it starts:
# nothing may depend on today's date or hour (scripts/moved_clock.py says how).
CLOCK_DAYS ?= 23.4
test-moved-clock: setup
	$(BIN)/python scripts/moved_clock.py --days $(CLOCK_DAYS) -n $(TEST_WORKERS)

bench: setup
	$(BIN)/python bench/sandbox_pages.py
	$(BIN)/python bench/tap_throughput.py
	$(BIN)/python bench/events_attributions.py
	$(BIN)/python bench/tap_memory.py
	$(BIN)/python bench/pipeline_throughput.py
	$(BIN)/python bench/membership_cost.py
	$(BIN)/python bench/profile_deletion_cost.py
	$(BIN)/python bench/light_run.py
	$(BIN)/python bench/freshness.py
	$(BIN)/python bench/full_run.py
	$(BIN)/python bench/report_quota.py
	$(BIN)/python bench/target_throughput.py
	$(BIN)/python bench/change_memory.py
	$(BIN)/python bench/reverse_throughput.py
	$(BIN)/python bench/warehouse_changes_to_klaviyo.py
	$(BIN)/python bench/csv_read.py
	$(BIN)/python bench/models_runtime.py

# Every pinned wheel (development venv, Meltano and each plugin's lock, orchestrate/locks/) into wheels/: later
# installs, the container image's included, then need no network.
wheelhouse: setup
	$(BIN)/python -m pip download --quiet --disable-pip-version-check -r requirements/dev.txt -d wheels
	$(BIN)/python orchestrate/lock.py --download wheels
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps -d wheels \
		"sqlglotc==$$(sed -n 's/^sqlglot==//p' orchestrate/locks/target-snowflake.txt)"

# The plugins' wheels (packaging/README.md), built from the sources with the venv's setuptools: no network.
dist: setup
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w dist \
		./klaviyo-http ./tap-support ./tap-klaviyo ./tap-csv ./target-klaviyo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
