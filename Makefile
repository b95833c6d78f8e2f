# Two commands for a new user: `make demo` and `make test`. Both set up .venv/ first (idempotent).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test wheel-check fuzz lint bench bench-parts bench-quality bench-zoo bench-redraw readme-grid clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,stream]'
	# litdata declares torchvision and an unpinned torch: install it alone (version pinned in constraints.txt)
	$(BIN)/python -m pip install -q -c constraints.txt --no-deps litdata
	touch $(STAMP)

demo: setup
	$(BIN)/volo demo --out runs/demo

test: setup
	$(BIN)/ruff check volo_adapt cli tests benchmarks
	$(BIN)/python -m pytest -q --durations=20 tests

# The package as a user installs it: build the wheel, install it with the CPU pins into a fresh virtual environment
# in a temp folder, then run `volo --version`, a dry run of every preset and a two-batch training from outside the
# checkout (1.5-3.5 minutes on 2 shared cores; CI runs it after `make test`).
wheel-check:
	PY=$(PY) .ci/wheel_check.sh

# Long random fuzzing of the property-based tests (not part of CI; `make test` runs them derandomised).
# Turn every counterexample it prints into an ordinary regression test. VOLO_FUZZ_EXAMPLES sets the count.
# The statistics at the end give the examples run per property (about 40 minutes on 2 cores at 10,000).
fuzz: setup
	VOLO_HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -x -p no:cacheprovider --hypothesis-show-statistics \
		tests/faults/test_fault_inputs.py tests/faults/test_fault_config.py tests/data/test_formats.py

lint: setup
	$(BIN)/ruff check volo_adapt cli tests benchmarks

# Speed and memory are measured here, never by timed assertions in tests (see benchmarks/README.md).
# `make bench`: the performance runner (training step, memory, FLOPs, translate; hours at 512 px on 2 cores);
# `make bench BENCH_ARGS=--quick`: the same at 64 px, a few minutes. Results: benchmarks/results/perf/perf.{md,json}.
BENCH_ARGS ?=
bench: setup
	$(BIN)/python benchmarks/bench_perf.py $(BENCH_ARGS)

# The older single-purpose benchmarks: renderer speed, generator/critic forward, translate modes.
bench-parts: setup
	$(BIN)/python benchmarks/bench_synth.py --sizes 128 512 --repeats 5
	$(BIN)/python benchmarks/bench_models.py --size 256 --repeats 3 --critics
	$(BIN)/python benchmarks/bench_translate.py --device cpu --size 256 --repeats 3

# Quality at one wall-clock budget: the demo preset against the paper's model at demo size, 3 seeds, with the
# identity / untrained / floor / sensor-truth rows (about 30 minutes on 2 cores), then the ablation (each switch
# off in turn, 2 seeds, about 100 minutes). Results: benchmarks/results/{quality,ablation}/quality.{md,json}.
bench-quality: setup
	$(BIN)/python benchmarks/bench_quality.py --budget 7m --seeds 0 1 2 --parallel 2 --threads 1 \
		--out benchmarks/results/quality
	$(BIN)/python benchmarks/bench_quality.py --variant sensor=demo --ablation --budget 7m --seeds 0 1 \
		--parallel 2 --threads 1 --out benchmarks/results/ablation

# The sensor zoo (issue 21's protocol): the demo preset and the classic CycleGAN on every zoo sensor at the 7-minute
# budget, one core per run, beside identity and floor; ZOO_SEEDS="0 1 2" is the full protocol (about 5 hours on
# 2 cores; the README's table uses all three). Resumable. Results: benchmarks/results/quality-zoo/.
ZOO_SEEDS ?= 0
bench-zoo: setup
	$(BIN)/python benchmarks/bench_quality.py --zoo --budget 7m --seeds $(ZOO_SEEDS) --parallel 2 --threads 1 \
		--out benchmarks/results/quality-zoo

# What a perfect translator scores on that table: each sensor drawn again on the table's scenes and scored as a
# translation (benchmarks/probe_sensor_redraw.py; about 35 minutes on 2 cores; resumable; runs/redraw holds the data).
bench-redraw: setup
	$(BIN)/python benchmarks/probe_sensor_redraw.py --table benchmarks/results/quality-zoo/quality.json \
		--draws 1 2 3 --out runs/redraw
	cp runs/redraw/redraw.md runs/redraw/redraw.json benchmarks/results/quality-zoo/

# The README's picture, docs/images/demo_grid.png: the first 4 paired test scenes of the demo benchmark (source A,
# translated by the checkpoint's A->B generator, the true sensor-B rendering), depth on one colour bar in metres.
# Checkpoint: CKPT=..., else the one `make demo` wrote (runs/demo/run/checkpoints/last.ckpt); with neither, the
# demo preset is trained for README_GRID_TIME (2 minutes, not the demo's 7) into runs/readme-grid first. The grid's
# title names the checkpoint and its step, so a picture from that short run says so.
CKPT ?=
README_GRID_TIME ?= 2m
readme-grid: setup
	@ckpt="$(CKPT)"; \
	if [ -z "$$ckpt" ] && [ -f runs/demo/run/checkpoints/last.ckpt ]; then ckpt=runs/demo/run/checkpoints/last.ckpt; fi; \
	if [ -z "$$ckpt" ]; then \
		echo "no CKPT and no runs/demo: training the demo preset for $(README_GRID_TIME) into runs/readme-grid"; \
		$(BIN)/volo train --config demo --out runs/readme-grid --max-time $(README_GRID_TIME) --resume auto || exit 1; \
		ckpt=runs/readme-grid/checkpoints/last.ckpt; \
	fi; \
	echo "translating the demo's paired test scenes with $$ckpt"; \
	$(BIN)/python -m volo_adapt.metrics.plots_grid "$$ckpt" docs/images/demo_grid.png

clean:
	rm -rf $(VENV) runs .pytest_cache
