# l1ad: two entry points on a fresh machine (Python 3.11, gcc, make, perl):
#   make demo   -> create .venv, install, run generate -> train -> build -> sim -> rates -> abcd on defaults
#   make test   -> create .venv, install, run lint + the test suite (what .ci/run calls; slow tests deselected)
#   make test-all -> the same plus the slow tests (-m slow: full-size designs, the default sample, quoted numbers)
#   make bench  -> every benchmarks/bench_*.py (exit 1 if a target is missed), then README's table from their JSON
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: demo test test-all bench env clean

$(BIN)/.l1ad-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[physics,test]'
	touch $@

env: $(BIN)/.l1ad-installed

demo: env
	$(BIN)/l1ad demo --out $(OUT)

test: env
	$(BIN)/ruff check l1ad tests sim benchmarks
	$(BIN)/pytest -q

test-all: env
	$(BIN)/ruff check l1ad tests sim benchmarks
	$(BIN)/pytest -q -m "slow or not slow"

bench: env
	$(BIN)/python -m benchmarks; rc=$$?; $(BIN)/python -m benchmarks.report || rc=$$?; exit $$rc

clean:
	rm -rf out .cache .pytest_cache
