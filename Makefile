# crm-spark: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYTHONUNBUFFERED := 1

.PHONY: run test test-fast jars prerequisites lint bench-generate dist dist-env clean help

help:
	@echo "make run    - set up, generate the demo data set and run the whole flow locally"
	@echo "make test   - set up and run the test suite"
	@echo "make test-fast - the edit-loop tier: the suite without the integration and cluster tests"
	@echo "make jars   - pre-fetch the Delta JARs (and configured packages) with mvn"
	@echo "make lint   - ruff (style, complexity, argument count) and mypy (types)"
	@echo "make dist   - wheel + zip for spark-submit --py-files, the JARs, and the command lines to use"
	@echo "make dist-env - dist + a packed virtual environment for spark-submit --archives"

run: prerequisites $(STAMP) jars
	$(BIN)/crm-spark run

test: prerequisites $(STAMP) jars
	$(BIN)/pytest --junitxml=test-artifacts/junit.xml $(PYTEST_ARGS)

test-fast: prerequisites $(STAMP) jars
	$(BIN)/pytest -m "not integration and not cluster" $(PYTEST_ARGS)

jars: $(STAMP)
	$(BIN)/crm-spark setup

lint: $(STAMP)
	$(BIN)/ruff check crm_spark jobs tests bench
	$(BIN)/mypy

bench-generate: prerequisites $(STAMP) jars
	$(BIN)/python bench/generate.py --persons 100000 1000000

prerequisites:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found: install Python 3.11+ (apt-get install python3 python3-venv)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python 3.11+ is needed, found $$($(PYTHON) --version 2>&1); install python3.11 or run make PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "error: Python's venv module is missing: apt-get install python3-venv"; exit 1; }
	@command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ] || { echo "error: Java not found: install Java 17+ (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); [ "$${v:-0}" -ge 17 ] || { echo "error: Java 17+ is needed, found Java $$v: apt-get install openjdk-17-jre-headless and set JAVA_HOME"; exit 1; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# dist/: the wheel, crm_spark.zip (--py-files), jars/ (--jars) and submit.txt, the command lines
# it prints (docs/cluster.md). dist-env adds a packed virtual environment for --archives.
dist: $(STAMP) jars
	rm -rf dist && $(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	$(BIN)/crm-spark --env cluster dist --out dist

dist-env: dist
	rm -rf build/env && $(PYTHON) -m venv build/env
	build/env/bin/python -m pip install --quiet dist/crm_spark-*.whl venv-pack
	build/env/bin/venv-pack -p build/env -o dist/crm_spark_env.tar.gz --force

clean:
	rm -rf lake landing truth mlruns/mlflow.db mlruns/artifacts test-artifacts .pytest_cache
