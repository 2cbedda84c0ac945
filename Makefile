# tinypipe: every target sets itself up first (Debian packages + .venv), idempotently.
SHELL := /bin/bash
VENV  := .venv/bin
TP    := $(VENV)/tinypipe
export PLATFORMIO_SETTING_ENABLE_TELEMETRY := no
export TF_CPP_MIN_LOG_LEVEL := 3

BOARD   ?= qemu-m4
RUNTIME ?= aot
MODEL   ?= ../shared/models/mlperf-tiny/kws_ref_model.tflite
OUT     ?= out/$(BOARD)-$(notdir $(basename $(MODEL)))
PORT    ?=
BAUD    ?= 115200
RUNS    ?= 10
PORT_ARG := $(if $(PORT),--port $(PORT),)

.PHONY: setup qat demo test lint export flash monitor emulate bench mlperf clean

setup:
	@./scripts/setup.sh

qat:
	@./scripts/setup.sh --qat

demo: setup
	$(TP) run digits --board qemu-m4 --out out/demo

test: qat
	$(VENV)/ruff check .
	$(VENV)/pytest -n 2 --dist loadfile -q --durations=25

lint: setup
	$(VENV)/ruff check .

export: setup
	$(TP) export $(MODEL) --board $(BOARD) --runtime $(RUNTIME) --out $(OUT)

flash: export
	$(TP) flash $(OUT) $(PORT_ARG)

monitor: setup
	$(TP) monitor --port $(PORT) --baud $(BAUD)

emulate: export
	$(TP) emulate $(OUT)

bench: setup
	$(TP) bench $(MODEL) --board $(BOARD) --runtime $(RUNTIME) --runs $(RUNS) --out $(OUT)-bench $(PORT_ARG)

mlperf: setup    # the headline figures: bench/results/mlperf_tiny-*.md and aot_memory-*.md
	$(VENV)/python bench/mlperf_tiny.py
	$(VENV)/python bench/aot_memory.py

clean:
	rm -rf out build .pytest_cache
