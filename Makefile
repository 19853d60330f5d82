# Tandem — every target does its own set-up on a fresh machine (Python 3.11+, Node.js 20+).
#   make run     start Tandem (tray app; the server alone where there is no display)
#   make test    lint, type-check, schema checks, and every test (Python, web, end-to-end),
#                the storage, domain, REST and WebSocket suites again on PostgreSQL
#   make bench   benchmarks, printing figures
#   make proto   regenerate the protobuf code after editing proto/
#   make lock    re-resolve requirements.lock after editing pyproject.toml
#   make package build this OS's installers into dist/ (installs PyInstaller itself)

PYTHON ?= python3
VENV   := .venv
# Windows virtualenvs keep their programs in Scripts/ (the release workflow runs make there).
ifeq ($(OS),Windows_NT)
BIN    := $(VENV)/Scripts
else
BIN    := $(VENV)/bin
endif
STAMP  := $(VENV)/.installed
WEB_STAMP := web/node_modules/.installed
WEB_DIST  := web/dist/index.html
WEB_SRC   := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f -not -path 'web/src/gen/*' 2>/dev/null) $(wildcard proto/tandem/v1/*.proto)
BUF    := web/node_modules/.bin/buf
# The benchmarks' reference server and load clients (Node's ws package).
BENCH_NODE_STAMP := tests/bench_node/node_modules/.installed
LINT_STAMP := packaging/workflow-lint/node_modules/.installed

.PHONY: run serve test test-py test-pg test-web test-package lint bench proto lock web package clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(LINT_STAMP): packaging/workflow-lint/package.json packaging/workflow-lint/package-lock.json
	cd packaging/workflow-lint && npm ci --no-audit --no-fund
	touch $@

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

# The web UI is built only when it exists and its sources changed.
$(WEB_DIST): $(WEB_STAMP) $(WEB_SRC)
	@if [ -f web/vite.config.ts ]; then cd web && npm run build; else mkdir -p web/dist && touch $@; fi

web: $(WEB_DIST)

run: $(STAMP) $(WEB_DIST)
	$(BIN)/tandem

serve: $(STAMP) $(WEB_DIST)
	$(BIN)/tandem serve --open

lint: $(STAMP) $(WEB_STAMP) $(LINT_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo
	$(BUF) lint
	$(BUF) format --diff --exit-code
	$(BUF) breaking --against proto/baseline/tandem-v1.binpb
	$(BIN)/zizmor --offline --quiet .github/workflows
	node packaging/workflow-lint/check.mjs

test-py: $(STAMP) $(WEB_DIST)
	$(BIN)/pytest -q -ra

test-web: $(WEB_STAMP) $(WEB_DIST)
	@if grep -q '"test"' web/package.json; then cd web && npm test; fi

# The suites that run a second time with the data in PostgreSQL (tests/pg_backend.py): the
# local server every development and CI machine has, one scratch database per test run.
PG_TEST_SERVER ?= postgresql://postgres@127.0.0.1:5432
PG_SUITES := tests/test_domain.py tests/test_domain_disk.py tests/test_domain_group_commit.py \
	tests/test_inbox.py tests/test_inbox_api.py tests/test_inbox_trash.py tests/test_inbox_upkeep.py \
	tests/test_trash_archive.py tests/test_workflow.py tests/test_security_lan.py tests/test_attachments.py \
	$(wildcard tests/test_api_*.py) $(wildcard tests/test_ws_*.py)

test-pg: $(STAMP) $(WEB_DIST)
	TANDEM_TEST_POSTGRES=$(PG_TEST_SERVER) $(BIN)/pytest -q -ra $(PG_SUITES)

test: lint test-web test-py test-pg

$(BENCH_NODE_STAMP): tests/bench_node/package.json tests/bench_node/package-lock.json
	cd tests/bench_node && npm ci --no-audit --no-fund
	touch $@

# The installers of the OS this runs on, into dist/ (see packaging/build.py).
package: $(STAMP) $(WEB_DIST)
	$(BIN)/python packaging/build.py

# Only the installer tests (the release workflow runs them after make package).
test-package: $(STAMP) $(WEB_DIST)
	$(BIN)/pytest -q -ra -m package tests/package

bench: $(STAMP) $(WEB_DIST) $(BENCH_NODE_STAMP)
	$(BIN)/python tests/bench.py

proto: $(STAMP)
	$(BIN)/python proto/generate.py

lock: $(STAMP)
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -q -o requirements.lock

clean:
	rm -rf $(VENV) web/node_modules web/dist web/src/gen tests/bench_node/node_modules packaging/workflow-lint/node_modules build dist
