# Two commands on a fresh machine: `make demo` and `make test`. Every install step lives here.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
NODE_BIN  := node_modules/.bin
ANVIL     := $(NODE_BIN)/anvil
export PATH := $(CURDIR)/$(NODE_BIN):$(PATH)

.PHONY: install lock demo test lint bench soak clean system-deps anvil analyze analyze-deep lock-mythril

LOCK      := requirements.lock

# Installs exactly the locked versions, every file checked against its hash (runtime, dev and
# pg extras, and the build backend), then livetrust itself without resolving anything.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Regenerates the lock from pyproject.toml's ranges, from PyPI only (a deliberate change:
# review the diff). Versions already in the lock are kept where they still fit; to upgrade
# one package: make lock LOCK_ARGS="--upgrade-package NAME".
lock:
	test -x $(BIN)/pip-compile || $(MAKE) install
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/pip-compile -q --generate-hashes \
	  --allow-unsafe --all-build-deps --extra dev --extra pg --strip-extras \
	  --no-emit-index-url --no-emit-find-links --pip-args "--isolated" $(LOCK_ARGS) \
	  -o $(LOCK) pyproject.toml

# anvil (foundry) from npm runs offline; installed into ./node_modules, not globally.
$(ANVIL):
	npm install --no-audit --no-fund --no-save @foundry-rs/anvil@1.7.1 >/dev/null
anvil: $(ANVIL)

# Keys are sealed with a passphrase (docs/reliability-security.md); the demo uses a fixed
# one unless LIVETRUST_KEY_PASSPHRASE is set, so it runs without a prompt.
demo: install
	LIVETRUST_HOME=$${LIVETRUST_HOME:-.livetrust-demo} \
	LIVETRUST_KEY_PASSPHRASE=$${LIVETRUST_KEY_PASSPHRASE:-livetrust-demo} $(BIN)/python -m services.demo

# Debian chromium for the browser tests (tests/e2e), driven by Playwright's executable_path.
system-deps:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

# One worker per core (pytest-xdist), a test module per worker at a time so its fixtures are
# built once; TEST_WORKERS=0 runs in this process (a debugger, -x).
TEST_WORKERS ?= auto
test: install anvil system-deps
	LIVETRUST_TEST_PG=$${LIVETRUST_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	LIVETRUST_ANVIL=$(CURDIR)/$(ANVIL) \
	$(BIN)/python -m pytest -q -m "not bench and not soak" -n $(TEST_WORKERS) --dist loadfile \
	  $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check contracts provenance watermark services tests benchmarks
	$(BIN)/ruff format --check contracts provenance watermark services tests benchmarks
	$(BIN)/mypy

bench: install anvil
	LIVETRUST_TEST_PG=$${LIVETRUST_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	LIVETRUST_ANVIL=$(CURDIR)/$(ANVIL) \
	LIVETRUST_KEY_PASSPHRASE=$${LIVETRUST_KEY_PASSPHRASE:-livetrust-bench} $(BIN)/python -m benchmarks $(BENCH)

# Contract static analysis (docs/reliability-security.md): natrix's full report, then the test
# that every finding is triaged. analyze-deep adds Mythril on the bytecode (slow, own venv).
analyze: install
	-PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/natrix lint contracts/
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/security/test_contract_analysis.py

MYTHRIL_VENV := .venv-mythril
MYTHRIL_LOCK := contracts/analysis/mythril.lock
$(MYTHRIL_VENV)/.installed: $(MYTHRIL_LOCK)
	test -x $(MYTHRIL_VENV)/bin/python || $(PY) -m venv $(MYTHRIL_VENV)
	$(MYTHRIL_VENV)/bin/python -m pip install -q --require-hashes -r $(MYTHRIL_LOCK)
	touch $@

# keeps extras (coverage[toml]): pip's --require-hashes needs them spelled as required
lock-mythril: install
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/pip-compile -q --generate-hashes \
	  --allow-unsafe --no-emit-index-url --no-emit-find-links --pip-args "--isolated" \
	  -o $(MYTHRIL_LOCK) contracts/analysis/mythril.in

analyze-deep: install $(MYTHRIL_VENV)/.installed
	$(BIN)/python -m tests.security.mythril_scan $(CURDIR)/$(MYTHRIL_VENV)/bin/myth

# Long reliability runs (tests/reliability, marker soak): 600 kill -9 points per database,
# 10 minutes of mixed load; figures go to benchmarks/results/reliability.json.
soak: install anvil
	LIVETRUST_TEST_PG=$${LIVETRUST_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	LIVETRUST_ANVIL=$(CURDIR)/$(ANVIL) \
	$(BIN)/python -m pytest -q -s -m soak tests/reliability $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(MYTHRIL_VENV) node_modules .livetrust-demo .pytest_cache .mypy_cache .ruff_cache
