# carrierwatch — common commands. `make run` and `make test` do all set-up themselves.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CW := $(BIN)/carrierwatch

.PHONY: help install run stop test unit integration faults faults-long cluster cluster-long bench \
	lint typecheck clean

help:
	@echo "make run        install, start the local broker, create topics, feed synthetic"
	@echo "                traffic (RATE=20 events/s) and run the worker"
	@echo "make test       install, lint, type-check and run the whole test suite"
	@echo "make unit       fast pure tests only (no broker)"
	@echo "make faults     the fault suite alone (short); faults-long: the long run"
	@echo "make cluster    the faults on a local 3-node Kafka; cluster-long: 20 kills, 500k"
	@echo "make bench      carrierwatch vs its peers, latency and scale figures (> 1 h;"
	@echo "                BENCH_ARGS='--events 200000' ~1 h, '--only RUN...', '--profile')"
	@echo "make stop       stop the local broker started by 'make run'"
	@echo "make lint       ruff and the package layers (import-linter);"
	@echo "                make typecheck: mypy --strict"

$(VENV)/.installed: pyproject.toml deploy/system-deps.sh
	./deploy/system-deps.sh prometheus browser sip alertmanager
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	CW=$(CW) ./deploy/run-local.sh

stop: install
	$(CW) broker stop

lint: install
	$(BIN)/ruff check processor tests
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

faults: install
	$(BIN)/pytest -q -s -m faults tests/faults

faults-long: install
	CARRIERWATCH_FAULTS=long $(BIN)/pytest -q -s -m faults tests/faults

cluster: install
	$(BIN)/pytest -q -s -m cluster tests/cluster

cluster-long: install
	CARRIERWATCH_FAULTS=long $(BIN)/pytest -q -s -m cluster -k kill_nine tests/cluster

bench: install
	$(BIN)/python -m tests.benchmarks.bench $(BENCH_ARGS)

test: lint typecheck
	$(BIN)/pytest -n 2 --dist loadgroup

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
