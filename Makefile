# One entry point for every task; all targets set up what they need first and are idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APE := $(VENV)/bin/ape
RUFF := $(VENV)/bin/ruff
SOLIDITY := $(shell find contracts -name '*.sol')
ARTIFACT := p2pkit/artifacts/EnergyMarket.json
CALIPER := bench/caliper/node_modules/.installed

.PHONY: setup chromium geth demo test lint test-frontend test-contracts test-python bench bench-caliper clean

setup: $(VENV)/.installed node_modules/.installed $(ARTIFACT)

# Development installs every part and tool (the `dev` extra); the meter box and the server
# install only their own (`pip install '.[bridge]'`, `'.[backend]'`).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The one build of the contracts: the toolkit ships it, Ape's tests and deploy script read it.
$(ARTIFACT): $(SOLIDITY) scripts/compile_contracts.py scripts/solcjs-wrapper.js $(VENV)/.installed node_modules/.installed
	$(PY) scripts/compile_contracts.py
	touch $@

# The platform on an embedded chain with simulated meters and prosumers; the page's address is printed.
demo: setup
	$(PY) scripts/demo.py

# Debian's Chromium for the browser test (the test skips, saying why, where it cannot be installed).
chromium:
	bash scripts/ensure_chromium.sh

# Geth v1.11.6 for the proof-of-work test (skipped, saying why, where it cannot be built).
geth:
	bash devnet/geth/install_geth.sh || true

# The contract tests and the rest run side by side, one on each core; the contract tests' report
# (kept in build/contract-tests.log) follows the rest's, and the target fails if either failed.
test: lint setup chromium geth test-frontend
	@mkdir -p build
	@echo "contract tests (Ape) run beside the others; their report: build/contract-tests.log"
	@$(APE) test tests/contracts > build/contract-tests.log 2>&1 & contracts=$$!; \
	$(MAKE) --no-print-directory test-python; others=$$?; \
	wait $$contracts; ape=$$?; \
	echo "== contract tests (Ape):"; if test $$ape -eq 0; then tail -n 20 build/contract-tests.log; \
	else cat build/contract-tests.log; fi; \
	test $$others -eq 0 && test $$ape -eq 0

# Style and imports of the whole tree (ruff, configured in pyproject.toml).
lint: $(VENV)/.installed
	$(RUFF) check .
	$(RUFF) format --check .

# The page's pure logic (clock, amounts, error wording) under Node's own test runner.
test-frontend:
	node --test tests/frontend/

# Contract tests run under Ape on its embedded eth-tester chain, on the build in p2pkit/artifacts.
test-contracts: setup
	$(APE) test tests/contracts

# Everything else (toolkit, meter bridge, backend, scripts, page) under plain pytest.
test-python: setup chromium
	$(PY) -m pytest -p no:ape_test tests --ignore=tests/contracts --durations=25

# Benchmarks print their tables and write them to bench/results/ (never part of `make test`).
bench: setup $(CALIPER)
	$(PY) -m bench

# Hyperledger Caliper 0.6.0 and the web3 its Ethereum connector loads, pinned in bench/caliper/.
$(CALIPER): bench/caliper/package.json bench/caliper/package-lock.json
	cd bench/caliper && npm ci --prefer-offline --no-audit --no-fund --loglevel=error
	touch $@

# The market under Caliper alone (also a part of `make bench`): bench/results/caliper.md.
bench-caliper: setup $(CALIPER)
	$(PY) -m bench.caliper

clean:
	rm -rf build .build .pytest_cache p2pkit/artifacts/*.json
