"""Bench stage: export -> build -> flash (or emulate) -> read over serial -> validate -> report.

One call answers "how fast, how small and how exact is this model on this board":
`bench(model, board)` writes `bench.json` and `report.md` (with plots) into `out`. A failure
at any step still writes what was measured up to that point, with the error, before raising.

The firmware is started and talked to through the device layer (tinypipe.device.target), the
same path `tinypipe validate --board B` and `tinypipe compare` use.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe import graph as graph_mod
from tinypipe import validate as validate_mod
from tinypipe.aot.codegen import DEFAULT_OPTIMIZE, arena_allowance
from tinypipe.boards import Board, load_board
from tinypipe.device.target import DEFAULT_TIMEOUT_S, run_on_target
from tinypipe.errors import TinypipeError

Echo = Callable[[str], None]


# --- memory, from the linker map ---------------------------------------------------------------


def memory_breakdown(map_file: Path, weights_bytes: int | None = None) -> dict[str, int]:
    """Flash bytes by owner from a GNU ld map: weights, code, harness (tinypipe.figures)."""
    from tinypipe.figures import flash_breakdown

    return flash_breakdown(map_file, weights_bytes)


# --- the bench ---------------------------------------------------------------------------------


def _latency(mon: Any, board: Board) -> dict[str, Any]:
    """Latency figures; µs from the cycle rate the device reports (an emulated board: an estimate
    at the board's clock, one instruction per cycle).

    A real board's timer counts core cycles and its HAL reports the core clock it really runs at
    (SystemCoreClock, F_CPU_ACTUAL, ...) as tick_hz: that is `clock_hz`, `clock_from` "device", and
    `clock_warning` says so when it differs from the board file's clock_hz."""
    result = mon.result
    warning = None
    if board.emulated or mon.boot is None:
        units_per_second, clock_from = board.clock_hz, "board file"
        note = "QEMU counts instructions, not cycles; µs assumes one instruction per cycle at the board clock"
    else:
        units_per_second, clock_from = mon.boot.tick_hz * mon.boot.units_per_tick, "device"
        note = f"{mon.boot.timer} cycles at the {units_per_second / 1e6:g} MHz the device reported"
        if units_per_second != board.clock_hz:
            warning = (f"the device reported a {units_per_second / 1e6:g} MHz core clock, {board.path.name} "
                       f"says {board.clock_hz / 1e6:g} MHz: the clock set-up did not do what the board file "
                       "describes (µs are at the reported clock)")
    us = result.median / units_per_second * 1e6 if units_per_second else None
    return {"unit": result.unit, "runs": result.runs, "median": result.median, "min": result.min,
            "max": result.max, "us_median": us, "us_is_estimate": bool(board.emulated), "note": note,
            "clock_hz": units_per_second, "clock_from": clock_from, "clock_warning": warning}


def bench(model: str | Path, board_id: str, out: str | Path, runtime: str = "aot", runs: int = 10,
          validate: int = 10, profile: bool = False, port: str | None = None,
          inputs: list[np.ndarray] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
          extra: dict[str, Any] | None = None, echo: Echo | None = None,
          build_flags: Sequence[str] = (), estimate_for: str | None = None,
          tflm_dir: str | Path | None = None, tflm_kernels: str | None = None,
          test: str | Path | None = None, preprocess: str | Path | None = None,
          float_model: str | Path | None = None, optimize: str = DEFAULT_OPTIMIZE) -> dict[str, Any]:
    """Measure `model` on `board_id`; returns the bench.json dict (also written to out/bench.json).

    `test` (data `tinypipe.dataset` reads, `preprocess` hook) replaces the random inputs and adds
    the `accuracy` block: float (`float_model`, default beside the model), int8 on the host
    (LiteRT) and int8 on the device (`tinypipe.metrics.model_accuracy`).

    `build_flags` are appended to the firmware's build flags (tinypipe.export.export); `optimize`
    (aot: ram, balanced or time) is how much arena the faster kernel variants may take.

    `estimate_for` (a real board, e.g. nucleo-l4r5zi, with `board_id` the QEMU board of its core)
    adds an `estimate` block: the cycles and ms one inference is estimated to take on that board,
    from the instruction stream QEMU executes (tinypipe.estimate; labelled is_estimate).

    `inputs` (stacked on axis 0, one array per model input) replaces the `validate` random
    inputs, e.g. a recipe's test set; the outputs that came back are in result["device_outputs"].
    """
    from tinypipe import figures
    from tinypipe.build import build
    from tinypipe.export import export
    from tinypipe.reference import random_inputs

    say = echo or (lambda _msg: None)
    model, out = Path(model), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    board = load_board(board_id)
    arena_allowance(optimize)  # a wrong goal fails before the build
    if not board.emulated:  # a missing serial port fails now, not after the build
        from tinypipe.build import check_serial_port

        check_serial_port(board.id, port, what="bench")
    from tinypipe.export import resolve_runtime

    runtime, runtime_why = resolve_runtime(model, board, runtime)
    say(f"runtime {runtime_why}")
    if runtime == "tflm":  # before any build: is there a TFLite Micro tree?
        from tinypipe.tflm.tree import find_tree

        find_tree(tflm_dir)
    if estimate_for:  # a wrong pairing fails before the build
        from tinypipe.estimate import check_pair

        if runtime != "aot":
            raise TinypipeError(f"--estimate-for traces the aot runtime, not {runtime}", "use --runtime aot")
        check_pair(load_board(estimate_for), board)
    g = graph_mod.load(model)
    test_data = None
    if test is not None:  # accuracy hook: read the test data before any build
        from tinypipe.dataset import load_for_model

        test_data = load_for_model(test, model, preprocess, float_model)
        inputs = [test_data.model_input()]
    result: dict[str, Any] = {
        "model": {"path": str(model), "sha256": g.sha256, "macs": figures.model_macs(g),
                  "params": figures.model_params(g)},
        "board": {"id": board.id, "core": board.core, "clock_hz": board.clock_hz, "emulated": board.emulated,
                  "flash_bytes": board.memory.flash.size, "ram_bytes": board.memory.ram.size,
                  "unit": board.timer.unit, "timer": board.timer.kind},
        "runtime": runtime, "runtime_choice": runtime_why, "optimize": optimize if runtime == "aot" else None,
        "latency": None, "memory": None, "validation": None, "efficiency": None,
        # one row per TFLite operator (tinypipe.figures), timed once the firmware ran
        "layers": [{**row.to_json(), "layer": "", "units": None} for row in figures.layer_rows(g)],
        "host": {"machine": platform.machine(), "python": platform.python_version()},
        **(extra or {}),
    }
    stage = "export"
    device_outputs: list[np.ndarray] = []
    try:
        say(f"export {model.name} for {board.id} ({runtime})")
        project = export(model, board.id, out / "firmware", runtime=runtime, runs=runs, profile=profile,
                         build_flags=build_flags, tflm_dir=tflm_dir, tflm_kernels=tflm_kernels,
                         optimize=optimize)
        stage = "build"
        say("build (pio run)")
        built = build(project.dir)
        # tinypipe.figures: weights are the offline figure, code and harness from the link map
        memory = {"flash_bytes": built.flash_used, "weights_bytes": project.model_flash_bytes}
        if built.map_file is not None:
            memory.update(memory_breakdown(built.map_file, project.model_flash_bytes))
        memory.update({"ram_bytes": built.ram_used, "arena_bytes": project.arena_bytes})
        result["memory"] = memory
        stage = "run"
        ref = validate_mod.reference_for(model, runtime)
        xs = inputs if inputs is not None else random_inputs(ref.input_details, validate, seed=0)
        say(("start QEMU (pio run -t upload)" if board.emulated else f"flash and open {port}")
            + f", read records, validate {len(xs[0])} inputs")
        target = run_on_target(project.dir, board, xs, port, timeout_s)
        mon = target.monitor
        result["latency"] = _latency(mon, board)
        if mon.boot is not None:  # what the runtime really used of the arena it was given
            memory["arena_used_bytes"] = mon.boot.arena
        if mon.result.stack is not None:  # the high-water mark the firmware measured
            memory["stack_bytes"] = mon.result.stack
        result["efficiency"] = {"macs_per_unit": result["model"]["macs"] / max(mon.result.median, 1),
                                "unit": mon.result.unit}
        result["layers"] = _layers(g, project.dir, runtime, mon.layers)
        if mon.layers:
            result["profile_total_units"] = sum(la.units for la in mon.layers)
        device_outputs = target.outputs
        if len(xs[0]):
            expected = ref.run_batch(xs)
            stats = validate_mod.compare(
                [o.reshape(e.shape) for o, e in zip(target.outputs, expected, strict=True)], expected,
                [d["name"] for d in ref.output_details])
            exact = np.ones(len(xs[0]), bool)
            for o, e in zip(target.outputs, expected, strict=True):
                exact &= (o.reshape(len(o), -1) == e.reshape(len(e), -1)).all(axis=1)
            result["validation"] = {"samples": int(len(xs[0])), "bit_exact": int(exact.sum()),
                                    "reference": validate_mod.reference_label(ref),
                                    "max_abs_diff": max((s.max_abs_diff for s in stats), default=0.0)}
        if estimate_for:
            stage = "estimate"
            say(f"estimate cycles on {estimate_for} (one inference, QEMU instruction stream)")
            result["estimate"] = _estimate(model, board, estimate_for, runtime, build_flags, optimize)
    except TinypipeError as exc:
        result["error"] = f"{stage}: {exc.what}"
        write_results(result, out)
        raise TinypipeError(f"bench stopped at {stage}: {exc.what}",
                            f"{exc.hint + '; ' if exc.hint else ''}partial results in {out / 'bench.json'}") \
            from None
    if test_data is not None:  # accuracy hook: float, host int8 and the outputs that came back
        from tinypipe.metrics import model_accuracy

        say(f"accuracy on {len(test_data)} test samples (float, int8 host, device)")
        result["accuracy"] = model_accuracy(model, test_data, device_outputs=device_outputs,
                                            float_model=float_model, device_board=board.id)
    report = write_results(result, out)
    result["report"] = str(report)
    result["device_outputs"] = device_outputs
    return result


def _estimate(model: Path, board: Board, target: str, runtime: str,
              build_flags: Sequence[str], optimize: str) -> dict[str, Any]:
    """The bench.json `estimate` block: {board, core, cycles, ms, clock_hz, assumptions, is_estimate, ...}."""
    from tinypipe.estimate import estimate_model

    est = estimate_model(model, target, emulated=board.id, runtime=runtime, extra_cflags=build_flags,
                         optimize=optimize)
    return est.to_json()


def _layers(g: graph_mod.Graph, project: Path, runtime: str, timed: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per TFLite operator (tinypipe.figures.layer_rows), numbered by operator index, with
    the firmware's layer name and per-layer time (`units`, None when the layer was not timed)."""
    from tinypipe.figures import layer_index, layer_rows

    names: dict[int, str] = {}
    sidecar = project / "src" / "model.json"
    if runtime == "aot" and sidecar.is_file():
        names = {la["op_index"]: la["name"] for la in json.loads(sidecar.read_text())["layers"]
                 if la.get("op_index", -1) >= 0}
    units: dict[int, int] = {}
    for la in timed:
        index = next((i for i, n in names.items() if n == la.name), None)
        index = layer_index(la.name) if index is None else index
        if index is not None:
            units[index] = units.get(index, 0) + la.units
            names.setdefault(index, la.name)
    # An operator the profile does not list took no time (an aot alias: RESHAPE emits no code).
    return [{**row.to_json(), "layer": names.get(row.index, ""),
             "units": units.get(row.index, 0) if units else None} for row in layer_rows(g)]


def write_results(result: dict[str, Any], out: Path) -> Path:
    """Write out/bench.json and out/report.md (with plots); returns the report's path."""
    from tinypipe.report import write_report

    (out / "bench.json").write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    return write_report(result, out)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def summary_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Short (label, value) rows for the terminal summary."""
    lat, mem, val = result.get("latency") or {}, result.get("memory") or {}, result.get("validation") or {}
    rows = []
    if lat and lat.get("clock_warning"):
        rows.append(("warning", lat["clock_warning"]))
    if lat:
        est = " (estimate)" if lat.get("us_is_estimate") else ""
        rows.append(("latency", f"{lat['median']:,} {lat['unit']} median of {lat['runs']}"
                                f" ≈ {lat['us_median']:,.0f} µs{est}"))
        per = result["efficiency"]["macs_per_unit"]
        rows.append(("efficiency", f"{per:.3f} MACs per {lat['unit'][:-1]}"))
    if mem:
        rows.append(("flash", f"{mem['flash_bytes']:,} B (weights {mem.get('weights_bytes', 0):,}, "
                              f"code {mem.get('code_bytes', 0):,}, harness {mem.get('harness_bytes', 0):,})"))
        stack = f"; stack high-water mark {mem['stack_bytes']:,} B" if mem.get("stack_bytes") else ""
        used = mem.get("arena_used_bytes")
        arena = f"{mem['arena_bytes']:,}"
        if used not in (None, mem["arena_bytes"]):
            arena += f", {used:,} used"
        goal = f", --optimize {result['optimize']}" if result.get("optimize") else ""
        rows.append(("RAM", f"{mem['ram_bytes']:,} B (arena {arena}{goal}){stack}"))
    if val:
        rows.append(("validation", f"{val['bit_exact']}/{val['samples']} bit-exact on the device"))
    est = result.get("estimate")
    if est:
        rows.append(("estimate", f"≈ {est['cycles']:,} cycles ≈ {est['ms']:,.2f} ms on {est['board']} "
                                 f"({est['core']}, {est['clock_hz'] / 1e6:g} MHz; an estimate)"))
    return rows
