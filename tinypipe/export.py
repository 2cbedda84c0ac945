"""Export stage: a complete PlatformIO project that benchmarks and validates a model on a board.

    export(model, board, out, runtime="aot", runs=10, profile=False) -> FirmwareProject

The project is the harness (firmware_templates/common: boot records, timed runs, per-layer
profile, validation protocol) plus one runtime behind the tp_glue.h interface:

* `aot`  - the model compiled ahead of time by tinypipe.aot (model.c/.h) and the C kernel
  library it calls (tp_common.h, kernels/), copied next to it in src/;
* `tflm` - TensorFlow Lite Micro built from the pinned tree tinypipe finds (tinypipe.tflm):
  the model as an aligned C array, a MicroMutableOpResolver registering exactly the model's
  operators, only those kernels compiled (CMSIS-NN on cores with DSP/MVE), the TFLM flags given
  to every translation unit, and a static arena reserved by tinypipe.tflm.arena's rule.

Emulated boards get their platformio.ini environment and support files from
tinypipe.build.prepare_project; so do real boards, from the board file (pinned `platformio`
packages, `build:` flags; stm32cube boards: include/tp_board.h with the `clock_tree:`, the
tinypipe.ld linker script, boards/<board>.json when the platform lacks the board) plus the
framework's HAL (firmware_templates/hal/arduino_hal.cpp or stm32cube_hal.c). Everything is
checked (board, runtime, operators, memory fit) before the first file is written.

Project layout:

    platformio.ini
    include/  tp_hal.h tp_glue.h tp_protocol.h tp_harness.h tp_profile.h tp_config.h
    src/      tp_harness.c tp_protocol.c, main.c (bare metal), arduino_hal.cpp (Arduino) or
              stm32cube_hal.c (STM32Cube),
              aot:  tp_glue.c model.c model.h model.json tp_common.h kernels/
              tflm: tp_glue.cpp tp_model_data.c tp_model_data.h
    (tflm) lib_deps on two TFLM library manifests in the user cache; sources stay in the tree
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from tinypipe import RUNTIME_DIR, TEMPLATES_DIR
from tinypipe import graph as graph_mod
from tinypipe.aot.codegen import DEFAULT_OPTIMIZE
from tinypipe.boards import Board, check_fit, load_board
from tinypipe.errors import TinypipeError
from tinypipe.tflm.arena import ARENA_ALIGNMENT
from tinypipe.tflm.library import CODE_BYTES_ALLOWANCE, TflmLibrary

RUNTIMES = ("aot", "tflm")
AUTO = "auto"  # aot when it runs every operator of the model, else tflm
DEFAULT_RUNS = 10
MAX_RUNS = 1000
WARMUP_RUNS = 1
SERVE_IDLE_MS = 30_000  # the board ends its validation session after this much silence
MODEL_ID_HEX_DIGITS = 8
HARNESS_IO_DTYPES = ("int8", "uint8", "int16")  # tensor bytes the harness and the protocol move as they are

AOT_MODEL_NAME = "model"  # tp_model_* in the generated C
TFLM_MODEL_ARRAY = "tp_model_data"

COMMON_HEADERS = ("tp_hal.h", "tp_glue.h", "tp_protocol.h", "tp_harness.h", "tp_profile.h")
COMMON_SOURCES = ("tp_harness.c", "tp_protocol.c")
WARNING_FLAGS = ("-Wall", "-Wextra")
# The tp_hal.h implementation for each PlatformIO framework of a real board (firmware_templates/hal/).
FRAMEWORK_HALS = {"arduino": "arduino_hal.cpp", "stm32cube": "stm32cube_hal.c"}
PROFILE_FLAGS = ("-DTP_PROFILE",)  # tp_common.h then includes tp_profile.h (the harness hooks)

# TFLite builtin operator -> MicroMutableOpResolver method, where the method name is not simply
# the CamelCase of the operator name (CONV_2D -> AddConv2D, GATHER_ND -> AddGatherNd).
TFLM_METHOD_EXCEPTIONS = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "PADV2": "AddPadV2",
    "CUMSUM": "AddCumSum",
}


@dataclass
class HarnessConfig:
    """Everything tp_config.h tells the harness (and the Arduino HAL) at compile time."""

    board: str
    runtime: str
    model_file: str
    model_id: str
    layers: int
    runs: int = DEFAULT_RUNS
    warmup_runs: int = WARMUP_RUNS
    serve_idle_ms: int = SERVE_IDLE_MS
    serial_baud: int = 115200
    timer_kind: str = "dwt"
    timer_hz: int = 1
    units_per_tick: int = 1
    hal: dict[str, str] = field(default_factory=dict)  # TP_HAL_<KEY> macros for a framework HAL


@dataclass
class FirmwareProject:
    dir: Path
    board: str
    runtime: str
    model: Path
    model_sha256: str
    env: str  # the platformio.ini environment, `pio run -e ENV`
    runs: int
    profile: bool
    arena_bytes: int  # RAM the runtime's arena takes
    model_flash_bytes: int  # the weights (tinypipe.figures): const arrays (aot) or the flatbuffer (tflm)
    input_bytes: list[int]
    output_bytes: list[int]
    files: list[Path] = field(default_factory=list)  # what export wrote (not the platform's files)

    @property
    def platformio_ini(self) -> Path:
        return self.dir / "platformio.ini"


# --- templates -----------------------------------------------------------------------------------


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)


def render_config(cfg: HarnessConfig) -> str:
    """tp_config.h for one build."""
    return _env().get_template("common/tp_config.h.j2").render(vars(cfg))


def tflm_resolver_method(opcode: str) -> str:
    """The MicroMutableOpResolver method registering a builtin operator: CONV_2D -> AddConv2D."""
    if opcode.startswith("CUSTOM:") or opcode.startswith("BUILTIN_"):
        raise TinypipeError(f"operator {opcode} has no TFLite Micro builtin kernel",
                            "use --runtime aot, or rebuild the model with builtin operators only")
    if opcode in TFLM_METHOD_EXCEPTIONS:
        return TFLM_METHOD_EXCEPTIONS[opcode]
    words = [w if re.fullmatch(r"\d+D", w) else w.capitalize() for w in opcode.split("_")]
    return "Add" + "".join(words)


# --- sources -------------------------------------------------------------------------------------


@dataclass
class Sources:
    """What write_sources() produced: files plus the figures export needs."""

    files: list[Path]
    layers: int
    arena_bytes: int
    input_bytes: list[int]
    output_bytes: list[int]


@dataclass
class _Plan:
    """A runtime's memory figures, computed before anything is written."""

    arena_bytes: int
    flash_bytes: int
    layers: int
    tflm_measured: int = 0  # TFLite Micro's host measurement (tflm)
    tflm: TflmLibrary | None = None  # what the tflm runtime compiles (tflm.source: tree)
    optimize: str = DEFAULT_OPTIMIZE  # aot: the goal its kernel variants are chosen for
    kernels: str | None = None  # aot: the kernel path of the board's core (Board.kernel_path)


def resolve_runtime(model: str | Path, board: str | Board, requested: str = AUTO) -> tuple[str, str]:
    """The runtime to build (`requested`, or for "auto" aot when it runs every operator of the
    model and the board offers it, else tflm) and one line saying why. Raises before anything is
    built when no runtime can serve the model on the board."""
    b = board if isinstance(board, Board) else load_board(board)
    if requested not in (*RUNTIMES, AUTO):
        raise TinypipeError(f"unknown runtime {requested!r}",
                            f"use --runtime {' or '.join((AUTO, *RUNTIMES))}")
    if requested != AUTO:
        b.require_runtime(requested)
        return requested, f"{requested} (as asked)"
    from tinypipe.aot.lowering import supported_ops

    g = graph_mod.load(model)
    aot_ops = set(supported_ops())
    missing = [op for op in g.opcodes if op not in aot_ops]
    if not missing and b.supports("aot"):
        return "aot", "aot: it runs every operator of the model"
    why = f"aot does not run {missing[0]}" if missing else f"{b.id} does not offer aot"
    if not b.supports("tflm"):
        raise TinypipeError(f"{Path(model).name} on {b.id}: {why}, and {b.id} does not offer tflm: "
                            f"{b.unsupported.get('tflm', 'not listed')}",
                            "pick a board offering tflm (tinypipe boards), or replace the operator")
    return "tflm", f"tflm: {why}"


def int8_only_ops(g: graph_mod.Graph) -> set[str]:
    """Operators every instance of which has int8 activations and weights (int32 biases)."""
    mixed = {op.opcode for op in g.operators for t in (*g.op_inputs(op), *g.op_outputs(op))
             if t is not None and t.dtype not in ("int8", "int32")}
    return set(g.opcodes) - mixed


def _check_io(g: graph_mod.Graph) -> None:
    for i in (*g.inputs, *g.outputs):
        t = g.tensor(i)
        if t.dtype not in HARNESS_IO_DTYPES:
            raise TinypipeError(
                f"{g.path}: model input/output '{t.name}' is {t.dtype}; "
                f"the firmware harness exchanges {' and '.join(HARNESS_IO_DTYPES)} tensors",
                "quantize with int8 inputs and outputs (tinypipe quantize does by default)",
            )


def _plan(g: graph_mod.Graph, model: Path, runtime: str, board: Board | None,
          tflm_dir: str | Path | None = None, tflm_kernels: str | None = None,
          optimize: str = DEFAULT_OPTIMIZE) -> _Plan:
    if runtime == "aot":
        from tinypipe.aot.codegen import plan_layers
        from tinypipe.figures import aot_weights_bytes

        kernels = board.kernel_path if board is not None else None
        layers, plan = plan_layers(g, optimize, kernels)
        return _Plan(plan.arena_bytes, aot_weights_bytes(g, layers), sum(1 for la in layers if not la.alias),
                     optimize=optimize, kernels=kernels)
    from tinypipe.inspect import tflm_arena_bytes
    from tinypipe.tflm.arena import arena_reserve
    from tinypipe.tflm.library import kernel_set, plan_library
    from tinypipe.tflm.tree import find_tree

    assert board is not None, "the tflm plan depends on the board's core"
    if board.tflm_source == "tree":
        kernels = tflm_kernels or kernel_set(board)
        lib = plan_library(find_tree(tflm_dir), g.opcodes, kernels, int8_only_ops(g))
        kernels = lib.kernels
    else:  # a vendor build: its optimized kernels' scratch is bounded like CMSIS-NN's
        lib, kernels = None, "cmsis-nn"
        for opcode in g.opcodes:
            tflm_resolver_method(opcode)  # raises for custom operators
    measured = tflm_arena_bytes(model)
    reserve = arena_reserve(g, measured, kernels, board.mve)
    return _Plan(reserve, g.size_bytes, len(g.operators), measured, lib)


def _fits(board: Board, plan: _Plan) -> bool:
    try:
        check_fit(board, plan.flash_bytes, plan.arena_bytes, "")
    except TinypipeError:
        return False
    return True


def _copy(src: Path, dst: Path, files: list[Path]) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    files.append(dst)


def _write(path: Path, text: str, files: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    files.append(path)


def write_sources(model: Path, runtime: str, cfg: HarnessConfig, project_dir: Path,
                  tflm_header: str | None = None, plan: _Plan | None = None) -> Sources:
    """Write include/ and src/ (harness, runtime glue, model) for one runtime; no entry point.

    The caller adds the board side: main.c + platform files, or the Arduino HAL.
    """
    g = graph_mod.load(model)
    plan = plan or _plan(g, model, runtime, None)  # the tflm plan needs the board: export passes it
    include, src = project_dir / "include", project_dir / "src"
    files: list[Path] = []
    common = TEMPLATES_DIR / "common"
    for name in COMMON_HEADERS:
        _copy(common / name, include / name, files)
    for name in COMMON_SOURCES:
        _copy(common / name, src / name, files)
    _write(include / "tp_config.h", render_config(cfg), files)
    glue = TEMPLATES_DIR / "glue"
    if runtime == "aot":
        from tinypipe.aot.codegen import generate

        aot = generate(model, src, AOT_MODEL_NAME, optimize=plan.optimize, kernels=plan.kernels)
        files += aot.files
        _copy(RUNTIME_DIR / "tp_common.h", src / "tp_common.h", files)
        for kernel in sorted((RUNTIME_DIR / "kernels").glob("*.[ch]")):
            _copy(kernel, src / "kernels" / kernel.name, files)
        _copy(glue / "tp_glue_aot.c", src / "tp_glue.c", files)
    else:
        from tinypipe.export_c import export_c

        files += export_c(model, src, TFLM_MODEL_ARRAY)
        ops = g.opcodes
        calls = plan.tflm.resolver_calls if plan.tflm else [f"{tflm_resolver_method(op)}()" for op in ops]
        text = _env().get_template("glue/tp_glue_tflm.cpp.j2").render(
            model_file=model.name, tflm_header=tflm_header, model_array=TFLM_MODEL_ARRAY,
            ops=ops, resolver_calls=calls, kernel_headers=plan.tflm.headers if plan.tflm else [],
            kernels=plan.tflm.kernels if plan.tflm else "the vendor library's",
            layer_names=[f"{op.opcode.lower()}_{op.index}" for op in g.operators],
            arena_measured=plan.tflm_measured, arena_extra=plan.arena_bytes - plan.tflm_measured,
            arena_alignment=ARENA_ALIGNMENT, arena_bytes=plan.arena_bytes,
            num_variables=graph_mod.variable_count(g),
        )
        _write(src / "tp_glue.cpp", text, files)
    return Sources(files, plan.layers, plan.arena_bytes,
                   [g.tensor(i).nbytes for i in g.inputs], [g.tensor(i).nbytes for i in g.outputs])


# --- the project ---------------------------------------------------------------------------------


def render_platformio_ini(env: str, options: dict[str, str], comment: str, core_dir: str | None,
                          build_cache_dir: str | None = None) -> str:
    """platformio.ini with one environment; multi-line values (one item per line) are indented."""
    lines = [f"; {line}" for line in comment.splitlines()]
    lines += ["", "[platformio]", f"default_envs = {env}"]
    if core_dir:
        lines.append(f"core_dir = {core_dir}")
    if build_cache_dir:
        lines.append(f"build_cache_dir = {build_cache_dir}")
    lines += ["", f"[env:{env}]"]
    for key, value in options.items():
        items = value.split("\n")
        indented = "".join(f"\n    {item}" for item in items)
        lines.append(f"{key} = {value}" if len(items) == 1 else f"{key} ={indented}")
    return "\n".join(lines) + "\n"


def tflm_build_cache() -> Path:
    """PlatformIO's build_cache_dir for tflm projects: $TINYPIPE_BUILD_CACHE, else the user cache."""
    if os.environ.get("TINYPIPE_BUILD_CACHE"):
        return Path(os.environ["TINYPIPE_BUILD_CACHE"])
    from tinypipe.tflm.tree import user_cache

    return user_cache() / "pio-build-cache"


def _framework_hal(board: Board) -> str:
    """The HAL source for a real board's framework (emulated boards have the QEMU platform's)."""
    framework = board.platformio.framework if board.platformio else None
    hal = FRAMEWORK_HALS.get(framework or "")
    if hal is None:
        raise TinypipeError(
            f"board {board.id} uses the {framework} framework, for which tinypipe has no HAL "
            f"(it has: {', '.join(sorted(FRAMEWORK_HALS))})",
            "pick another board (tinypipe boards), or an emulated board",
        )
    return hal


def _board_options(board: Board, project_dir: Path, runtime: str, profile: bool,
                   files: list[Path], build_flags: Sequence[str] = (),
                   arena_bytes: int | None = None) -> dict[str, str]:
    """The [env] options: the board's platform (tinypipe.build) plus the harness's flags and entry.

    `arena_bytes` lets a real board with a fast RAM (DTCM) place data, arena and stack there."""
    from tinypipe.build import prepare_project

    # Also writes the platform's support files (real boards: pins, flags, manifest, clock, linker script).
    options = dict(prepare_project(board, project_dir, runtime, arena_bytes=arena_bytes))
    if board.emulated:
        _copy(TEMPLATES_DIR / "common" / "main.c", project_dir / "src" / "main.c", files)
        # Bare metal compiles nothing but tinypipe's own sources: warnings are errors.
        src_flags = [*WARNING_FLAGS, "-Werror"]
    else:
        assert board.platformio is not None  # board files guarantee it for real boards
        hal = _framework_hal(board)
        _copy(TEMPLATES_DIR / "hal" / hal, project_dir / "src" / hal, files)
        counter = "tp_cycle_counter.h"  # the DWT / 64-bit counter the real-board HALs share
        _copy(TEMPLATES_DIR / "hal" / counter, project_dir / "include" / counter, files)
        # STM32Cube: src/ is tinypipe's alone and the Cube headers are clean: warnings are errors.
        # Arduino cores' headers are outside tinypipe's control: warn, but do not fail the build.
        src_flags = [*WARNING_FLAGS, "-Werror"] if board.platformio.framework == "stm32cube" \
            else list(WARNING_FLAGS)
    # aot: always one profiled inference after the timed runs (per-layer time by default); the
    # timed runs themselves have no per-layer hooks.
    extra = [*(PROFILE_FLAGS if profile or runtime == "aot" else ()), *build_flags]
    if extra:
        options["build_flags"] = "\n".join(filter(None, [options.get("build_flags", ""), *extra]))
    options["build_src_flags"] = "\n".join(src_flags)
    return options


def export(model: str | Path, board: str, out: str | Path, runtime: str = "aot", runs: int = DEFAULT_RUNS,
           profile: bool = False, build_flags: Sequence[str] = (),
           tflm_dir: str | Path | None = None, tflm_kernels: str | None = None,
           serve_idle_ms: int = SERVE_IDLE_MS, optimize: str = DEFAULT_OPTIMIZE) -> FirmwareProject:
    """Write a PlatformIO project for `model` on `board` into `out`; see the module docstring.

    `build_flags` are appended to the env's build_flags (e.g. "-DTP_PORTABLE"); `tflm_dir` is
    the TensorFlow Lite Micro tree for the tflm runtime (tinypipe.tflm.tree.find_tree), and
    `tflm_kernels` ("cmsis-nn" or "reference") overrides the board's kernel set; `serve_idle_ms`:
    how long the harness waits for a host's validation requests before it stops; `optimize`
    (aot: ram, balanced or time, tinypipe.aot.codegen.OPTIMIZE_GOALS): how much arena its faster
    kernel variants may take."""
    model, out = Path(model), Path(out)
    b = load_board(board)
    runtime, _ = resolve_runtime(model, b, runtime)
    if not b.emulated:
        _framework_hal(b)  # before anything is written
    if not 1 <= runs <= MAX_RUNS:
        raise TinypipeError(f"--runs {runs} is out of range", f"use 1 to {MAX_RUNS} timed inferences")
    if profile and runtime == "tflm":
        raise TinypipeError("per-layer profiling (--profile) is available with the aot runtime only",
                            "use --runtime aot --profile, or drop --profile")
    g = graph_mod.load(model)
    _check_io(g)
    plan = _plan(g, model, runtime, b, tflm_dir, tflm_kernels, optimize)
    code_allowance = CODE_BYTES_ALLOWANCE if runtime == "tflm" else 0  # the interpreter and its kernels
    what = f"{model.name} ({runtime} runtime" + (f", --optimize {optimize})" if runtime == "aot" else ")")
    try:
        check_fit(b, plan.flash_bytes + code_allowance, plan.arena_bytes, what)
    except TinypipeError as exc:
        smallest = _plan(g, model, runtime, b, optimize="ram") if runtime == "aot" else plan
        if smallest.arena_bytes < plan.arena_bytes and _fits(b, smallest):
            raise TinypipeError(exc.what, f"--optimize ram fits: its arena is {smallest.arena_bytes:,} B "
                                "(slower kernel variants where they need less scratch)") from None
        raise
    if out.exists() and any(out.iterdir()) and not (out / "platformio.ini").is_file():
        raise TinypipeError(f"{out} exists and is not a tinypipe firmware project",
                            "choose an empty or new --out directory")
    for stale in ("src", "include"):  # re-exporting replaces the sources, keeps .pio build caches
        shutil.rmtree(out / stale, ignore_errors=True)

    cfg = HarnessConfig(
        board=b.id, runtime=runtime, model_file=model.name, model_id=g.sha256[:MODEL_ID_HEX_DIGITS],
        layers=plan.layers, runs=runs, serial_baud=b.serial.baud, timer_kind=b.timer.kind,
        timer_hz=b.timer.tick_hz, units_per_tick=b.timer.units_per_tick, hal=b.hal,
        serve_idle_ms=serve_idle_ms,
    )
    sources = write_sources(model, runtime, cfg, out, b.tflm_header, plan)
    files = sources.files
    tflm_options = {}
    if plan.tflm is not None:
        from tinypipe.tflm.library import write_library

        tflm_options = write_library(tflm_build_cache().parent / "tflm-libraries", plan.tflm)
    options = _board_options(b, out, runtime, profile, files, [
        *filter(None, tflm_options.get("build_flags", "").split("\n")), *build_flags],
        arena_bytes=plan.arena_bytes)
    if "lib_deps" in tflm_options:
        options["lib_deps"] = "\n".join(filter(None, [options.get("lib_deps", ""), tflm_options["lib_deps"]]))
    goal = f" --optimize {optimize}" if runtime == "aot" else ""
    comment = (f"Generated by `tinypipe export {model.name} --board {b.id} --runtime {runtime}{goal}`.\n"
               f"{b.name}; model sha256 {g.sha256}.\n"
               f"Build: pio run -d {out}    Records: tinypipe monitor --port PORT")
    core_dir = ".pio-core" if b.emulated else None  # tinypipe.build's offline PlatformIO core
    # TFLite Micro's sources are the same files for every project: compile them once per machine.
    cache = str(tflm_build_cache()) if plan.tflm is not None else None
    _write(out / "platformio.ini", render_platformio_ini(b.id, options, comment, core_dir, cache), files)
    return FirmwareProject(
        dir=out, board=b.id, runtime=runtime, model=model, model_sha256=g.sha256, env=b.id, runs=runs,
        profile=profile, arena_bytes=plan.arena_bytes, model_flash_bytes=plan.flash_bytes,
        input_bytes=sources.input_bytes, output_bytes=sources.output_bytes, files=files,
    )
