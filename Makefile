# Two commands for a fresh machine: `make plan` and `make test`. Both create the venv if needed.
PYTHON ?= python3
VENV   ?= venv
STACK  ?= dev
BIN    := $(VENV)/bin

.PHONY: plan test lint typecheck pytest e2e e2e-kind benchmark docs lock clean mutation agent-package

# Runtime deps only for the plan; dev tools on top for tests. Hash-checked: every wheel must match
# the lock, or pip refuses to install it.
$(BIN)/.runtime: requirements.txt
	@echo "installing the locked runtime dependencies into $(VENV)/ (once; about a minute, quiet unless it fails)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	@echo "installing the locked test and lint tools into $(VENV)/ (once; a minute or two)"
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.txt -r requirements-dev.txt
	touch $@

plan: $(BIN)/.runtime  ## offline plan of STACK (default dev) → build/plan/$(STACK)
	$(BIN)/python -m scripts.plan --stack $(STACK)

# The three run side by side, each one's output printed whole when it ends: the linters' few seconds of CPU fit in
# the time the suite's workers wait on the emulators and subprocesses.
test: $(BIN)/.dev  ## lint, type check and the test suite
	@$(MAKE) --no-print-directory -j3 --output-sync=target lint typecheck pytest

lint: $(BIN)/.dev  ## ruff, and the layer contracts in pyproject.toml (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(BIN)/.dev
	$(BIN)/mypy

# PYTHONDONTWRITEBYTECODE, when the environment sets it, would make every worker rewrite and compile every test
# module on every run.
pytest: $(BIN)/.dev  ## the suite on every core; a module's tests stay on one worker (they share its plans)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n auto --dist loadscope

e2e-kind:  ## admission proven on kind: local stack up, then the post-deploy checks (needs Docker, kind, Pulumi CLI)
	.ci/e2e-kind

e2e: $(BIN)/.dev  ## live suites: Azure preview, cluster checks (skip with a reason when not reachable)
	$(BIN)/python -m pytest -m e2e -rs tests/e2e

benchmark: $(BIN)/.dev  ## performance figures (not a test): verifying 50 images; plan of 200 vs 2 namespaces
	$(BIN)/python -m pytest -m benchmark -s --benchmark-columns=min,mean,max tests/test_benchmarks.py tests/test_plan_benchmark.py

agent-package: $(BIN)/.runtime  ## the agents' control plane as a Function app zip → build/agent-pool.zip
	$(BIN)/python -m scripts.agent_package

docs: $(BIN)/.dev  ## regenerate the README's config reference from the model
	$(BIN)/python -m scripts.config_reference --write README.md

lock: $(BIN)/.dev  ## re-pin dependencies (hashes) after editing requirements*.in
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes -q -o requirements.txt requirements.in
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes -q -o requirements-dev.txt requirements-dev.in

clean:
	rm -rf build mutants .pytest_cache .mypy_cache .ruff_cache

mutation: $(BIN)/.dev  ## mutation testing of the security decisions (slow; modules in pyproject's [tool.mutmut])
	SUPPLY_CHAIN_SHARED=$(abspath ..)/shared $(abspath $(BIN))/mutmut run --max-children 2
	mkdir -p build && $(abspath $(BIN))/mutmut results --all true > build/mutation-results.txt
	$(abspath $(BIN))/python -m scripts.mutation_report build/mutation-results.txt  # figure + untriaged → build/mutation-report.md
