# Two commands on a fresh machine with only Python 3.11:  `make run`  and  `make test`.
# The Makefile bootstraps its own tools: uv (from PyPI, into .tools/) and a locked .venv.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
# Use the machine's Python; never download an interpreter.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= $(PYTHON)

VENV_STAMP := .venv/.vigil-synced

.PHONY: run test ui ui-if-npm lint docs fuzz bench bench-metrics bench-logs bench-auth bench-genai-columns bench-views bench-ui bench-explore bench-stock-sdk bench-outage bench-query bench-rules bench-sdk bench-actions migrate clean

run: $(VENV_STAMP) ui-if-npm
	$(UV) run --frozen --no-sync vigil serve

# Two workers, each taking whole test files (a module's servers and fixtures stay in one
# process): the suite in about half the time on two cores. PYTEST_WORKERS=0 runs it in-process.
PYTEST_WORKERS ?= 2
test: $(VENV_STAMP) ui-if-npm
	$(UV) run --frozen --no-sync pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The web UI (ui/, TypeScript + Vite) from its lockfile into ui/dist, which `vigil serve`
# serves on port 4320. Without npm, `make run` serves everything else and the page at :4320
# says how to get the UI.
NPM ?= $(shell command -v npm 2>/dev/null)
UI_SOURCES := $(shell find ui/src ui/index.html ui/package-lock.json ui/vite.config.ts ui/tsconfig.json 2>/dev/null)

ui: ui/dist/index.html

ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund
	touch $@

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && $(NPM) run build

ui-if-npm:
ifneq ($(NPM),)
	@$(MAKE) --no-print-directory ui
else
	@echo "npm not found: the web UI is not built (install Node.js and npm, then make ui); everything else runs"
endif

lint: $(VENV_STAMP)
	$(UV) run --frozen --no-sync ruff check .

# docs/configuration.md from the settings object (tests/test_lint.py checks it is current).
docs: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python -m vigil_server.settings_doc

# Coverage-guided fuzzing of the OTLP decoders (fuzz/run.py); FUZZ_ARGS for libFuzzer flags.
FUZZ_ARGS ?= -runs=1000000
fuzz: $(VENV_STAMP)
	mkdir -p .fuzz/corpus
	cd .fuzz && $(abspath $(UV)) run --frozen --no-sync python ../fuzz/run.py $(FUZZ_ARGS) corpus

bench: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/ingest.py $(BENCH_ARGS)

bench-stock-sdk: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/stock_sdk.py $(BENCH_ARGS)

bench-outage: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/outage.py $(BENCH_ARGS)

bench-metrics: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/metrics.py $(BENCH_ARGS)

bench-genai-columns: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/genai_columns.py $(BENCH_ARGS)

bench-views: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/views.py $(BENCH_ARGS)

bench-ui: $(VENV_STAMP) ui
	$(UV) run --frozen --no-sync python bench/ui.py $(BENCH_ARGS)

bench-explore: $(VENV_STAMP) ui
	$(UV) run --frozen --no-sync python bench/explore.py $(BENCH_ARGS)

bench-logs: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/logs.py $(BENCH_ARGS)

bench-auth: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/auth.py $(BENCH_ARGS)

bench-query: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/query.py $(BENCH_ARGS)

bench-rules: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/rules.py $(BENCH_ARGS)

bench-sdk: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/sdk_overhead.py $(BENCH_ARGS)

bench-actions: $(VENV_STAMP)
	$(UV) run --frozen --no-sync python bench/actions.py $(BENCH_ARGS)

migrate: $(VENV_STAMP)
	$(UV) run --frozen --no-sync vigil migrate

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): uv.lock pyproject.toml sdk/pyproject.toml proto/pyproject.toml | $(UV)
	$(UV) sync --frozen --all-packages
	touch $@

clean:
	rm -rf .venv .tools .vigil-data ui/node_modules ui/dist
