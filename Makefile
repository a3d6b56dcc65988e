# `make run` — set up .venv and run the embedded default end to end (MovieLens-100k, SmolLM2).
# `make test` — set up .venv and run the fast tier (unit tests, dry runs, one tiny end-to-end run).
# `make test-all` — the whole suite, slow tests included (what CI runs after the fast tier), but the cluster test.
# `make test-cluster` — starts a one-node SLURM cluster here (tests/cluster/start-slurm.sh, needs root) and runs
#   the tiny workflow through profiles/slurm on it; skipped, with the reason, where no cluster can be started.
# `make readme-table` — after `make run`: rewrite the README's expected-results table from the run.
# `make config-reference` — after a schema edit: rewrite docs/configuration.md's table of every key.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed

.PHONY: run test test-all test-cluster readme-table config-reference lint dry-run clean-results bench bench-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "not cluster" $(PYTEST_ARGS)

test-cluster: $(STAMP)
	$(BIN)/python -m pytest -q -rsP -m cluster $(PYTEST_ARGS) tests/cluster

# After `make run`: the README's expected-results table from the run's report.csv, at this commit.
readme-table: $(STAMP)
	$(BIN)/python -m padlib.report.readme_table results/ml-100k/report.csv --readme README.md

config-reference: $(STAMP)
	$(BIN)/python -m padlib.config_reference schemas/config.schema.yaml --doc docs/configuration.md

# The benchmark's inputs (ML-1M and the paper's Prime Pantry, with SmolLM2 embeddings), then the
# benchmark itself: figures for the current tree and ratios against BENCH_REFERENCE (python -m benchmarks).
PRIME_PANTRY ?= ../shared/data/prime-pantry
BENCH_REFERENCE ?= b12c064
BENCH_DATA := results/ml-1m/embeddings/smollm2.parquet results/prime-pantry/embeddings/smollm2.parquet

bench-data: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile benchmarks/ml-1m.yaml -- \
		results/ml-1m/data/items.parquet results/ml-1m/embeddings/smollm2.parquet
	$(BIN)/snakemake --cores $(CORES) --configfile benchmarks/prime-pantry.yaml \
		--config 'sources={prime-pantry: {kind: official, path: $(PRIME_PANTRY), name: Prime_Pantry}}' -- \
		results/prime-pantry/data/items.parquet results/prime-pantry/embeddings/smollm2.parquet

bench: bench-data
	$(BIN)/python -m benchmarks --threads $(CORES) --reference $(BENCH_REFERENCE) $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/snakemake --lint

dry-run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --dry-run

clean-results:
	rm -rf results logs timings
