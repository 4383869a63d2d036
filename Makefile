# pqiot developer entry points. `make help` lists them.
#
# Everything is idempotent: on a warm machine `make setup` checks the Debian
# packages (dpkg status, no network), finds the venv stamp newer than
# pyproject.toml/setup.py, and finds the verified PQClean tarball, and returns
# within a second or two.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory
empty :=
space := $(empty) $(empty)
comma := ,

# --- Python environment ------------------------------------------------------
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
RUFF := $(VENV)/bin/ruff
MYPY := $(VENV)/bin/mypy
COVERAGE := $(VENV)/bin/coverage
PQIOT := $(VENV)/bin/pqiot
# Reinstalled when packaging metadata changes or a namespace portion appears
# (the editable install maps each top-level portion package explicitly).
VENV_STAMP := $(VENV)/.pqiot-installed
VENV_INPUTS := pyproject.toml setup.py $(wildcard */pqiot/*/__init__.py)
PIP_FLAGS := --disable-pip-version-check --no-input --progress-bar off -q

# Namespace portions that are type-checked and measured: adding a portion is
# one word here (its folder must also be in setup.py's PORTIONS).
PORTIONS := cli reference vectors fuzz hil conformance bench
PORTION_DIRS := $(addsuffix /pqiot,$(PORTIONS))
MYPY_TARGETS := $(PORTION_DIRS) conftest.py

# --- Third-party C sources ---------------------------------------------------
# PQClean as shipped inside the npm package `pqclean`; the firmware build uses
# $(PQCLEAN_SRC). The SHA-512 is of the tarball `npm pack` returns; it equals
# the registry's dist.integrity
# (sha512-+5FtknAJdiNtVBiyLiKW3OnanhcqSWy44KCaZz1tELhalp5HfuIcxNsX9uS0t7ne2tEWc7NBd4GpiQBTGTIJBA==).
PQCLEAN_VERSION := 0.8.1
PQCLEAN_SHA512 := fb916d92700976236d5418b22e2296dce9da9e172a496cb8e0a09a673d6d10b85a969e477ee21cc4db17f6e4b4b7b9dedad11673b3417781a989005319320904
DEPS_DIR := build/deps
PQCLEAN_TGZ := $(DEPS_DIR)/pqclean-$(PQCLEAN_VERSION).tgz
PQCLEAN_DIR := $(DEPS_DIR)/pqclean-$(PQCLEAN_VERSION)
PQCLEAN_SRC := $(PQCLEAN_DIR)/deps/PQClean
PQCLEAN_STAMP := $(PQCLEAN_DIR)/.unpacked

# labgrid (the board-farm coordinator the HIL harness integrates with) lives in
# its own venv: it ships a pytest plugin and a patched pyserial that must not
# leak into the project's environment. hil/pqiot/hil/labgrid_place.py finds it here.
LABGRID_VERSION := 26.0.1
LABGRID_VENV := build/labgrid-venv
LABGRID_STAMP := $(LABGRID_VENV)/.labgrid-$(LABGRID_VERSION)

# --- Reports -------------------------------------------------------------------
REPORTS := reports
BENCH_DIR := $(REPORTS)/bench
CERTIFY_TARGET ?= qemu-m4
CERTIFY_OUT ?= $(REPORTS)/certify

# Extra pytest arguments, e.g. `make test PYTEST_ARGS='-k cbor -x'`.
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup system-deps venv deps/pqclean deps/labgrid test pytest test-slow lint format \
        bench coverage certify clean distclean

help: ## list the targets
	@grep -E '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# --- Setup -------------------------------------------------------------------

setup: system-deps venv deps/pqclean deps/labgrid ## install everything (Debian packages, .venv, PQClean, labgrid)

system-deps: ## Debian packages; skipped when dpkg says all are present
	@PYTHON='$(PYTHON)' bash scripts/setup-debian.sh

venv: $(VENV_STAMP) ## .venv with `pip install -e '.[test,dev]'`

$(VENV_PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "$(PYTHON) is older than 3.11; run e.g. 'make setup PYTHON=python3.11'" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV_STAMP): $(VENV_INPUTS) | $(VENV_PY)
	$(VENV_PY) -m pip install $(PIP_FLAGS) -e '.[test,dev]'
	@touch $@

deps/labgrid: $(LABGRID_STAMP) ## labgrid in build/labgrid-venv (for the farm integration tests)

$(LABGRID_STAMP):
	rm -rf $(LABGRID_VENV)
	$(PYTHON) -m venv $(LABGRID_VENV)
	$(LABGRID_VENV)/bin/pip install $(PIP_FLAGS) 'labgrid==$(LABGRID_VERSION)'
	touch $@

deps/pqclean: $(PQCLEAN_STAMP) ## fetch the pinned pqclean npm package, verify SHA-512, unpack

# npm packs into a scratch folder; only a tarball whose hash matches is moved
# into place, so a bad download never looks like a good one on the next run.
$(PQCLEAN_TGZ):
	@command -v npm >/dev/null || { echo "npm not found; run 'make system-deps' (Debian package npm)" >&2; exit 1; }
	@rm -rf $(DEPS_DIR)/.download && mkdir -p $(DEPS_DIR)/.download
	cd $(DEPS_DIR)/.download && npm pack --silent pqclean@$(PQCLEAN_VERSION) >/dev/null
	@echo "$(PQCLEAN_SHA512)  $(DEPS_DIR)/.download/pqclean-$(PQCLEAN_VERSION).tgz" | sha512sum --check --quiet - \
	  || { echo "pqclean@$(PQCLEAN_VERSION): SHA-512 mismatch; refusing to use it" >&2; exit 1; }
	@mv $(DEPS_DIR)/.download/pqclean-$(PQCLEAN_VERSION).tgz $@
	@rm -rf $(DEPS_DIR)/.download

$(PQCLEAN_STAMP): $(PQCLEAN_TGZ)
	@echo "$(PQCLEAN_SHA512)  $<" | sha512sum --check --quiet - \
	  || { echo "$<: SHA-512 mismatch; delete it and rerun 'make deps/pqclean'" >&2; exit 1; }
	@rm -rf $(PQCLEAN_DIR) && mkdir -p $(PQCLEAN_DIR)
	tar -xzf $< --no-same-owner --strip-components=1 -C $(PQCLEAN_DIR)
	@test -d $(PQCLEAN_SRC)/crypto_kem/ml-kem-768/clean \
	  || { echo "$<: no deps/PQClean/crypto_kem/ml-kem-768 inside; wrong package?" >&2; exit 1; }
	@touch $@
	@echo "PQClean sources: $(PQCLEAN_SRC)"

# --- Checks --------------------------------------------------------------------

# Lint and tests both run, so one CI log shows every problem; either failing
# fails the target. pytest's exit code 5 (no tests collected) is a failure.
test: setup firmware firmware-asan ## lint, then the test suite without slow/hardware/long_fuzz tests
	@lint=0; tests=0; \
	$(MAKE) lint || lint=$$?; \
	$(MAKE) pytest || tests=$$?; \
	if ((lint != 0)); then echo "make test: lint failed" >&2; fi; \
	if ((tests != 0)); then echo "make test: tests failed" >&2; fi; \
	exit $$((lint != 0 || tests != 0))

pytest: venv ## the test suite only (benchmarks run once, untimed)
	@rc=0; $(PYTEST) --benchmark-disable $(PYTEST_ARGS) || rc=$$?; \
	if ((rc == 5)); then echo "pytest collected no tests: treated as a failure" >&2; fi; \
	exit $$rc

test-slow: venv ## the slow tests (10k accumulated runs, vector regeneration, pure-Python cross-checks)
	$(PYTEST) --benchmark-disable -m 'slow and not hardware' $(PYTEST_ARGS)

lint: venv ## ruff check, ruff format --check, mypy
	@rc=0; \
	echo "ruff check"; $(RUFF) check . || rc=1; \
	echo "ruff format --check"; $(RUFF) format --check . || rc=1; \
	echo "mypy $(MYPY_TARGETS)"; $(MYPY) $(MYPY_TARGETS) || rc=1; \
	exit $$rc

format: venv ## apply ruff's fixes and formatting
	$(RUFF) check --fix .
	$(RUFF) format .

bench: venv ## timed benchmarks of tests/bench, JSON under reports/bench/
	@mkdir -p $(BENCH_DIR)
	$(PYTEST) tests/bench --benchmark-only -m 'not hardware and not long_fuzz' \
	  --benchmark-storage=file://$(BENCH_DIR) --benchmark-autosave \
	  --benchmark-json=$(BENCH_DIR)/latest.json $(PYTEST_ARGS)

coverage: venv ## the default test suite under coverage, HTML in reports/coverage/
	@mkdir -p build/coverage
	$(COVERAGE) run --source=$(subst $(space),$(comma),$(PORTION_DIRS)) \
	  -m pytest --benchmark-disable $(PYTEST_ARGS)
	$(COVERAGE) html
	$(COVERAGE) report

certify: setup firmware ## certification run (pqiot certify), report in reports/certify/
	$(PQIOT) certify --target $(CERTIFY_TARGET) --out $(CERTIFY_OUT)

# --- Firmware --------------------------------------------------------------------

.PHONY: firmware firmware-asan
firmware: deps/pqclean ## reference firmware: host build, qemu-m4 ELF, footprint report
	$(MAKE) -f targets/firmware/Makefile PQCLEAN_SRC=$(PQCLEAN_SRC) PYTHON=$(PYTHON) all

firmware-asan: deps/pqclean ## host firmware with ASan+UBSan (target host-fw-asan, live fuzzing)
	$(MAKE) -f targets/firmware/Makefile PQCLEAN_SRC=$(PQCLEAN_SRC) PYTHON=$(PYTHON) host-asan

# After `firmware`: the broken image links the host image's PQClean objects (no parallel
# build of the same objects under -j), and its self-test compares it with host-fw.
.PHONY: firmware-broken
firmware-broken: firmware ## host firmware without the replay check (target host-fw-broken-replay)
	$(MAKE) -f targets/firmware/Makefile PQCLEAN_SRC=$(PQCLEAN_SRC) PYTHON=$(PYTHON) host-broken

# The suite's self-test (tests/conformance/test_broken_device.py) runs the broken image.
test: firmware-broken

# --- Cleaning ------------------------------------------------------------------

clean: ## remove build output, reports and tool caches (keeps .venv)
	rm -rf build $(REPORTS) .mypy_cache .ruff_cache .pytest_cache .benchmarks .hypothesis
	find . \( -path ./$(VENV) -o -path ./.git \) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean ## clean, and remove .venv too
	rm -rf $(VENV) .tox *.egg-info

