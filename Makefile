# Two commands matter: `make serve` (run the server on the embedded SQLite default) and
# `make test` (the whole suite, on SQLite and on a PostgreSQL server the tests start).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test fuzz lint format typecheck check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.server: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.server

serve: $(VENV)/.server
	$(BIN)/bldst server start

test: $(VENV)/.dev
	$(BIN)/pytest $(PYTEST_ARGS)

# The property tests with fresh examples and larger budgets (`make test` draws the same
# examples every run). `make fuzz FUZZ_SEED=<seed>` replays the run that printed <seed>.
FUZZ_TESTS ?= tests/reliability/test_schemathesis.py tests/reliability/test_statemachine_model.py tests/server/test_views.py
fuzz: $(VENV)/.dev
	@seed='$(FUZZ_SEED)'; seed=$${seed:-$$($(BIN)/python -c 'import secrets; print(secrets.randbelow(2**32))')}; \
	echo "fuzz seed $$seed: make fuzz FUZZ_SEED=$$seed replays this run"; \
	BUILDSTATE_FUZZ_SEED=$$seed BUILDSTATE_SCHEMATHESIS_EXAMPLES=$${BUILDSTATE_SCHEMATHESIS_EXAMPLES:-300} \
	BUILDSTATE_STATEFUL_SCENARIOS=$${BUILDSTATE_STATEFUL_SCENARIOS:-30} \
	BUILDSTATE_STATEFUL_STEPS=$${BUILDSTATE_STATEFUL_STEPS:-3000} \
	$(BIN)/pytest --hypothesis-seed=$$seed $(FUZZ_TESTS) $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
