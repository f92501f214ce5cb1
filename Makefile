# Two commands: `make run` (set up and run the service) and `make test` (set up and run the tests).
PYTHON ?= python3
VENV ?= .venv
CONFIG ?= examples/diplomonitor.toml
# CPU-only torch, installed before the project so nothing pulls a multi-GB CUDA build.
# Elsewhere, point TORCH_PIP_ARGS at PyTorch's CPU wheel index (see README).
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PY := $(VENV)/bin/python
# The key repliers' identities are hashed with (reception); made once, kept out of git, mode 600.
# DIPLOMONITOR_PSEUDONYM_KEY in the environment wins over it.
PSEUDONYM_KEY_FILE ?= .diplomonitor-pseudonym-key
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# `models pull` downloads only the models not yet in cache_dir (with progress on a terminal);
# offline it prints its one-line reason and the service starts anyway.
run: $(STAMP)
	$(VENV)/bin/diplomonitor --config $(CONFIG) db upgrade
	$(VENV)/bin/diplomonitor --config $(CONFIG) accounts sync
	$(VENV)/bin/diplomonitor --config $(CONFIG) models pull || echo "notice: models not pulled (see above); posts wait for scoring until \`diplomonitor models pull\` succeeds"
	@test -s $(PSEUDONYM_KEY_FILE) || (umask 077 && $(PY) -c "import secrets; print(secrets.token_hex(32))" > $(PSEUDONYM_KEY_FILE))
	DIPLOMONITOR_PSEUDONYM_KEY="$${DIPLOMONITOR_PSEUDONYM_KEY:-$$(cat $(PSEUDONYM_KEY_FILE))}" $(VENV)/bin/diplomonitor --config $(CONFIG) run

# The report's browser test needs Chromium: installed with apt-get when missing and run as root
# (CI on a fresh machine); otherwise a notice, and that one test is skipped with its reason.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the report's browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "notice: chromium is not installed (apt-get install chromium); the report's browser test will be skipped"; fi

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

# The interop suite's peers (tests/interop), installed once into ~/.cache/diplomonitor-peers ahead
# of the tests; where that cannot be done, the interop tests are skipped and say why.
.PHONY: peers
peers: $(STAMP)
	$(PY) -m tests.interop.peers
test: peers

# Without the interop suite (tests/interop: real peers) and the tests that start subprocesses or
# build models: a quick check while working. `make test` runs everything.
.PHONY: test-fast
test-fast: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not interop and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
