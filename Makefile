# tinypipe: every target sets itself up first (Debian packages + .venv), idempotently.
SHELL := /bin/bash
VENV  := .venv/bin
TP    := $(VENV)/tinypipe
export PLATFORMIO_SETTING_ENABLE_TELEMETRY := no
export TF_CPP_MIN_LOG_LEVEL := 3

BOARD   ?= qemu-m4
RUNTIME ?= auto
RUNTIMES ?= aot,tflm
# The tflm runtime builds TensorFlow Lite Micro from this tree (tinypipe finds it through
# TINYPIPE_TFLM_DIR); the developers' and CI's copy is ../shared/tflm/tree.
TFLM_DIR ?= $(wildcard $(abspath ../shared/tflm/tree))
ifneq ($(TFLM_DIR),)
export TINYPIPE_TFLM_DIR ?= $(TFLM_DIR)
endif
MODEL   ?= ../shared/models/mlperf-tiny/kws_ref_model.tflite
OUT     ?= out/$(BOARD)-$(notdir $(basename $(MODEL)))
PORT    ?=
BAUD    ?= 115200
RUNS    ?= 10
# aot's RAM against speed: ram (the smallest arena), balanced, time (the fastest kernels)
OPTIMIZE ?= balanced
PORT_ARG := $(if $(PORT),--port $(PORT),)

.PHONY: setup qat onnx demo test lint export flash monitor emulate bench compare mlperf fuzz fidelity clean

setup:
	@./scripts/setup.sh

qat:
	@./scripts/setup.sh --qat

onnx:    # onnx2tf for `tinypipe quantize model.onnx` (see README: ONNX models)
	@./scripts/setup.sh --onnx

demo: setup
	$(TP) run digits --board qemu-m4 --out out/demo

test: qat onnx
	$(VENV)/ruff check .
	$(VENV)/pytest -n 2 --dist loadfile --no-loadscope-reorder -q --durations=25 -m "not mlperf"

lint: setup
	$(VENV)/ruff check .

export: setup
	$(TP) export $(MODEL) --board $(BOARD) --runtime $(RUNTIME) --optimize $(OPTIMIZE) --out $(OUT)

flash: export
	$(TP) flash $(OUT) $(PORT_ARG)

monitor: setup
	$(TP) monitor --port $(PORT) --baud $(BAUD)

emulate: export
	$(TP) emulate $(OUT)

bench: setup
	$(TP) bench $(MODEL) --board $(BOARD) --runtime $(RUNTIME) --optimize $(OPTIMIZE) --runs $(RUNS) \
		--out $(OUT)-bench $(PORT_ARG)

compare: setup  # the same model under several runtimes on one board, one table
	$(TP) compare $(MODEL) --board $(BOARD) --runtime $(RUNTIMES) --optimize $(OPTIMIZE) --runs $(RUNS) \
		--out $(OUT)-compare $(PORT_ARG)

mlperf: setup    # the headline figures: bench/results/mlperf_tiny-*.md, aot_memory-*.md, cycle_estimates-*.md, optimize_goals-*.md
	$(VENV)/python bench/mlperf_tiny.py
	$(VENV)/python bench/aot_memory.py
	$(VENV)/python bench/cycle_estimates.py
	$(VENV)/python bench/optimize_goals.py
	$(VENV)/pytest -q -m mlperf  # the NUCLEO-H7A3ZI-Q tflm build, from the qemu-m7 objects just compiled

# Hostile models (issue 12): 10,000 `inspect`, 300 `validate --board host` (ASan/UBSan) and 50
# `export` + `build` (qemu-m4) mutants of the MLPerf Tiny models, 2 worker processes; counts per
# mutation kind and outcome, JSON in $(FUZZ_JSON). Fails if any mutant ends in a traceback, a
# signal, a sanitizer report, a compile failure, a hang or impossible output.
FUZZ_JSON ?= out/fuzz/fuzz.json
fuzz: setup
	$(VENV)/python -m tests.fuzz.run --inspect 10000 --validate 300 --build 50 --emulate 60 --jobs 2 \
		--json $(FUZZ_JSON) --save out/fuzz/failures

# Fidelity (issue 13): FIDELITY_N random multi-operator Keras models (tests/fidelity/generate.py),
# converted full int8, aot-compiled, run on the sanitized host runner and compared bit for bit with
# LiteRT; per-operator table, bench/results/fidelity-<date>.{json,md}. Fails on any mismatch or
# crash (their specs go to out/fidelity/failures).
FIDELITY_N    ?= 400
FIDELITY_SEED ?= 1
fidelity: setup
	$(VENV)/python -m tests.fidelity.run --models $(FIDELITY_N) --seed $(FIDELITY_SEED) --jobs 2 \
		--out bench/results --save out/fidelity/failures

clean:
	rm -rf out build .pytest_cache
