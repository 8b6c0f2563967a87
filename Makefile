# Two commands on a fresh machine: `make demo` and `make test`. Every install step lives here.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
NODE_BIN  := node_modules/.bin
ANVIL     := $(NODE_BIN)/anvil
export PATH := $(CURDIR)/$(NODE_BIN):$(PATH)

.PHONY: install demo test lint bench soak clean system-deps anvil

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,pg]"
	touch $(STAMP)

install: $(STAMP)

# anvil (foundry) from npm runs offline; installed into ./node_modules, not globally.
$(ANVIL):
	npm install --no-audit --no-fund --no-save @foundry-rs/anvil@1.7.1 >/dev/null
anvil: $(ANVIL)

demo: install
	LIVETRUST_HOME=$${LIVETRUST_HOME:-.livetrust-demo} $(BIN)/python -m services.demo

# Debian chromium for the browser tests (tests/e2e), driven by Playwright's executable_path.
system-deps:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

test: install anvil system-deps
	LIVETRUST_TEST_PG=$${LIVETRUST_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	LIVETRUST_ANVIL=$(CURDIR)/$(ANVIL) \
	$(BIN)/python -m pytest -q -m "not bench and not soak" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check contracts provenance watermark services tests benchmarks
	$(BIN)/ruff format --check contracts provenance watermark services tests benchmarks
	$(BIN)/mypy

bench: install anvil
	LIVETRUST_TEST_PG=$${LIVETRUST_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	LIVETRUST_ANVIL=$(CURDIR)/$(ANVIL) $(BIN)/python -m benchmarks $(BENCH)

# Long reliability runs (tests/reliability, marker soak): 600 kill -9 points per database,
# 10 minutes of mixed load; figures go to benchmarks/results/reliability.json.
soak: install anvil
	LIVETRUST_TEST_PG=$${LIVETRUST_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	LIVETRUST_ANVIL=$(CURDIR)/$(ANVIL) \
	$(BIN)/python -m pytest -q -s -m soak tests/reliability $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules .livetrust-demo .pytest_cache .mypy_cache .ruff_cache
