"""The `tinypipe` command: a thin layer over the stage modules' Python API.

Each command imports its stage lazily (TensorFlow takes seconds to import), calls one API
function and prints the result. A TinypipeError becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from tinypipe.errors import TinypipeError

app = typer.Typer(
    help="TinyML deployment pipeline: train -> quantize -> inspect -> export -> build -> flash -> measure."
    "\n\nThe examples' model, out/digits/model.tflite, comes from "
    "`tinypipe train digits --out out/digits` and `tinypipe quantize out/digits/model.keras "
    "--calib out/digits/calib.npz --out out/digits/model.tflite`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped into a log (CI), rich would cut tables at 80 columns: there, lines are as long as they need.
LOG_WIDTH = 1000


def make_console() -> Console:
    """rich's global console (the one progress bars of the stages use too, so that a bar nests in the
    command's status line instead of leaving a stale line), wide when not a terminal."""
    import rich

    if not rich.get_console().is_terminal:
        rich.reconfigure(width=LOG_WIDTH)
    return rich.get_console()


console = make_console()


def _version(value: bool) -> None:
    if value:
        from tinypipe import __version__

        print(f"tinypipe {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    boards_dir: list[Path] = typer.Option(
        [], "--boards-dir", help="A directory of your own board files (BOARD.yaml), searched before the "
        "built-in boards; repeatable. Also: $TINYPIPE_BOARDS (directories separated by ':')."),
) -> None:
    if boards_dir:
        from tinypipe.boards import BOARDS_ENV, check_boards_dir

        for d in boards_dir:
            check_boards_dir(d)
        extra = os.environ.get(BOARDS_ENV, "")
        os.environ[BOARDS_ENV] = os.pathsep.join([*map(str, boards_dir), *filter(None, [extra])])


@contextlib.contextmanager
def progress_display(title: str) -> Iterator[Callable[[str], None]]:
    """Progress of a long command: in a terminal one live status line (the stage, live counts of
    epochs and samples); in a log one timestamped line per stage and a few per counted step.
    Yields the stage callback (the `echo` of bench, run, compare)."""
    import time

    from tinypipe import progress

    if console.is_terminal:
        with console.status(title) as status:
            reporter: progress.Reporter = progress.StatusReporter(lambda text: status.update(text))
            with progress.reporting(reporter):
                yield reporter.stage
        return
    reporter = progress.LineReporter(
        lambda text: console.print(text, highlight=False, markup=False, emoji=False), time.monotonic)
    with progress.reporting(reporter):
        reporter.stage(title)
        yield reporter.stage


def _runtime_option(variants: str = "auto, aot or tflm") -> Any:
    return typer.Option("auto", "--runtime", help=f"{variants}: auto picks aot when it runs every "
                        "operator of the model, else tflm (TensorFlow Lite Micro), and says why.")


def _optimize_option() -> Any:
    from tinypipe.aot.codegen import DEFAULT_OPTIMIZE, OPTIMIZE_HELP

    return typer.Option(DEFAULT_OPTIMIZE, "--optimize",
                        help=f"aot runtime, RAM against speed: {OPTIMIZE_HELP}.")


def _tflm_dir_option() -> Any:
    return typer.Option(None, "--tflm-dir", help="TensorFlow Lite Micro source tree for the tflm runtime "
                        "(default: $TINYPIPE_TFLM_DIR, then the user cache).")


def _test_option(what: str) -> Any:
    return typer.Option(None, "--test", help=f"Test data ({what}): an .npz with x (float, or already int8) "
                        "and y, a folder of images or WAV files (one subfolder per class), or a CSV.")


def _preprocess_option() -> Any:
    return typer.Option(None, "--preprocess", help="A .py file defining preprocess(x) -> np.ndarray: one raw "
                        "--test sample (image, WAV samples, CSV row) to the model input.")


def _float_option() -> Any:
    return typer.Option(None, "--float", help="The float model (.keras, .h5, SavedModel, .onnx) for float "
                        "figures (default: STEM.keras or model.keras beside the .tflite).")


def print_accuracy(acc: dict[str, Any]) -> None:
    """The accuracy block (tinypipe.metrics.accuracy_block) as a few lines."""
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    what = acc["metric"] + (f" vs {acc['reference']}" if acc.get("reference") else "")
    console.print(f"{what} on {acc['samples']} samples of {acc['data']}: " + "  ".join(
        f"{k.replace('_', ' ')} {fmt(acc[k])}" for k in ("float", "int8_host", "device")
        if acc.get(k) is not None or k in acc.get("details", {})), highlight=False, markup=False)
    for run, details in acc.get("details", {}).items():
        extra = {k: v for k, v in details.items() if k != acc["metric"] and isinstance(v, float)}
        if extra:
            console.print(f"  {run}: " + ", ".join(f"{k} {v:.4f}" for k, v in extra.items()),
                          highlight=False, markup=False)


def check_output(path: Path | None, kind: str, option: str = "--out") -> None:
    """Refuse an output path before any work: `kind` "dir" must be (or become) a directory, "file" a
    regular file, in a writable place. Device files (/dev/full, ...) and directories given for
    files are refused here rather than after minutes of work."""
    if path is None:
        return
    if path.exists():
        if kind == "dir" and not path.is_dir():
            raise TinypipeError(f"{option} {path}: exists and is not a directory", "choose a directory")
        if kind == "file" and path.is_dir():
            raise TinypipeError(f"{option} {path}: is a directory; a file is expected",
                                f"name a file inside it, e.g. {option} {path / 'out.json'}")
        if kind == "file" and not path.is_file():
            raise TinypipeError(f"{option} {path}: is not a regular file", "choose a regular file path")
        target = path
    else:
        target = path.parent
        while not target.exists() and target != target.parent:
            target = target.parent
        if not target.is_dir():
            raise TinypipeError(f"{option} {path}: {target} is not a directory", "choose another path")
    if not os.access(target, os.W_OK) or (target.is_dir() and not os.access(target, os.X_OK)):
        raise TinypipeError(f"{option} {path}: {target} is not writable", "choose a writable path")


# --- model side -------------------------------------------------------------------------------


@app.command("inspect")
def inspect_cmd(
    model: Path = typer.Argument(..., help="A .tflite model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    quant_error: bool = typer.Option(False, "--quant-error", help="Per layer: SQNR and relative error of the "
                                     "int8 tensors against the float model's on --test data."),
    test: Path | None = _test_option("for --quant-error"),
    float_model: Path | None = _float_option(),
    preprocess: Path | None = _preprocess_option(),
    samples: int = typer.Option(100, "--samples", help="--quant-error: test samples to run (the first N)."),
    optimize: str = _optimize_option(),
    board: str | None = typer.Option(None, "--board", help="Plan the aot arena for this board's core, as "
                                     "`export` does (default: any core, as a library)."),
) -> None:
    """Show every operator, its MACs and parameters, and the RAM/flash the model needs.

    Example: tinypipe inspect out/digits/model.tflite

    Where the accuracy went: tinypipe inspect model.tflite --quant-error --test test.npz [--float model.keras]
    """
    from tinypipe import inspect as inspect_stage

    if quant_error or test is not None:
        from tinypipe import quant_error as quant_error_stage

        if not quant_error or test is None:
            raise TinypipeError("--quant-error and --test go together: the per-layer error is measured "
                                "on data", "tinypipe inspect MODEL.tflite --quant-error --test DATA "
                                "[--float MODEL.keras]")
        with console.status("float and int8 side by side"):
            qe = quant_error_stage.quant_error(model, test, float_model, preprocess, samples)
        if as_json:
            print(json.dumps(qe.to_json(), indent=2))
        else:
            quant_error_stage.print_report(qe, console)
        return
    report = inspect_stage.inspect_model(model, optimize, board)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        inspect_stage.print_report(report, console)


@app.command("ops")
def ops_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    tflm_dir: Path | None = _tflm_dir_option(),
) -> None:
    """List every operator aot or TensorFlow Lite Micro runs, and which runtime runs it (int8, int16).

    Example: tinypipe ops
    """
    from tinypipe.ops import operator_table

    rows, source = operator_table(tflm_dir)
    if as_json:
        print(json.dumps({"source": source, "operators": [vars(r) for r in rows]}, indent=2))
        return
    from rich.table import Table

    def mark(v: bool | None) -> str:
        return "?" if v is None else ("yes" if v else "-")

    table = Table("operator", "aot int8", "tflm int8", "aot int16", "tflm int16", "aot kernel family",
                  title="Operators by runtime and activation type (int16: 16x8 models)")
    for r in rows:
        table.add_row(r.op, mark(r.aot), mark(r.tflm), mark(r.aot_int16), mark(r.tflm_int16), r.family)
    console.print(table)
    both = sum(1 for r in rows if r.aot and r.tflm)
    console.print(f"{len(rows)} operators: aot runs {sum(r.aot for r in rows)} (int16: "
                  f"{sum(r.aot_int16 for r in rows)}), tflm runs {sum(bool(r.tflm) for r in rows)} (int16: "
                  f"{sum(bool(r.tflm_int16) for r in rows)}), both {both}; {source}; tflm int16 from its "
                  "kernel sources", highlight=False, markup=False)


@app.command("export-c")
def export_c_cmd(
    model: Path = typer.Argument(..., help="A .tflite model."),
    out: Path = typer.Option(..., "--out", help="Directory for NAME.h and NAME.c."),
    name: str = typer.Option("model_data", "--name", help="C identifier for the array and files."),
) -> None:
    """Write the model as an aligned const C array (.h/.c), byte-for-byte deterministic.

    Example: tinypipe export-c out/digits/model.tflite --out out/digits/c --name digits_model
    """
    from tinypipe import export_c

    check_output(out, "dir")
    files = export_c.export_c(model, out, name)
    for f in files:
        console.print(f"wrote {f}")


# --- firmware: export and monitor ------------------------------------------------------------


@app.command("export")
def export_cmd(
    model: Path = typer.Argument(..., help="An int8 .tflite model."),
    board: str | None = typer.Option(None, "--board", help="Board id, e.g. qemu-m4 or nano33ble "
                                     "(tinypipe boards); not with --library."),
    out: Path = typer.Option(..., "--out", help="Directory for the PlatformIO project (or the library)."),
    runtime: str = _runtime_option(),
    runs: int = typer.Option(10, "--runs", help="Timed inferences in the on-board benchmark."),
    profile: bool = typer.Option(False, "--profile", help="Also time every layer (aot runtime)."),
    tflm_dir: Path | None = _tflm_dir_option(),
    library: bool = typer.Option(False, "--library", help="Write the model as a C library for your own "
                                 "firmware (PlatformIO/Arduino library, CMake target), no harness."),
    name: str | None = typer.Option(None, "--name", help="With --library: the prefix of every public "
                                    "symbol and macro (default: from the model's file name)."),
    optimize: str = _optimize_option(),
) -> None:
    """Write a PlatformIO project benchmarking the model on a board, or (--library) a C library of it.

    The project benchmarks the model and validates it over serial; the library is the model alone,
    for your application (a PlatformIO/Arduino library and a CMake target).

    Example: tinypipe export out/digits/model.tflite --board qemu-m4 --out out/fw

    Library: tinypipe export out/digits/model.tflite --library --name digits --out out/lib/digits
    """
    if library:
        from tinypipe.library import write_library

        if board is not None:
            raise TinypipeError("--library writes a board-independent library; --board does not apply",
                                "drop --board (the library builds for any board)")
        check_output(out, "dir")
        lib = write_library(model, out, name, optimize)
        m = lib.model
        console.print(f"wrote {lib.dir} ({len(lib.files)} files): library {lib.name}, "
                      f"{len(lib.kernels)} kernels, weights {m.weights_bytes:,} B, arena {m.arena_bytes:,} B",
                      highlight=False, markup=False)
        console.print(f"API: {lib.header} ({lib.name}_init, {lib.name}_input, {lib.name}_invoke, "
                      f"{lib.name}_output); see {lib.dir / 'README.md'}", highlight=False, markup=False,
                      soft_wrap=True)
        return
    if board is None:
        raise TinypipeError("export needs --board (or --library for a board-independent library)",
                            "e.g. --board qemu-m4; `tinypipe boards` lists them")
    if name is not None:
        raise TinypipeError("--name applies to --library only", "add --library, or drop --name")
    from tinypipe.export import export, resolve_runtime

    check_output(out, "dir")
    runtime, why = resolve_runtime(model, board, runtime)
    console.print(f"runtime {why}", highlight=False, markup=False)
    project = export(model, board, out, runtime=runtime, runs=runs, profile=profile, tflm_dir=tflm_dir,
                     optimize=optimize)
    console.print(f"wrote {project.dir} ({len(project.files)} files): {project.runtime} runtime, "
                  f"arena {project.arena_bytes:,} B, weights {project.model_flash_bytes:,} B")
    console.print(f"build with: pio run -d {project.dir}")


@app.command("monitor")
def monitor_cmd(
    port: str = typer.Option(..., "--port", help="Serial port or URL: /dev/ttyACM0, COM3, socket://HOST:PORT."),
    baud: int = typer.Option(115200, "--baud", help="Baud rate (the board file's serial.baud)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Give up after this many seconds (wall clock) "
                                  "unless the board has reported its results."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results (even partial) as JSON."),
) -> None:
    """Read a tinypipe board's benchmark records (boot info, timed runs, result, layer profile).

    Exits 2 if the results are incomplete or impossible. Example:
    tinypipe monitor --port socket://127.0.0.1:4444 --json out/kws/results.json
    """
    from tinypipe.device.monitor import monitor

    check_output(json_out, "file", "--json")
    def say(text: str) -> None:  # the text holds device strings: no markup, emoji or highlighting
        console.print(text, markup=False, emoji=False, highlight=False)

    result = monitor(port, baud=baud, timeout_s=timeout, json_out=json_out)
    if result.boot is not None:
        b = result.boot
        say(f"{b.board}: runtime {b.runtime}, model {b.model}, arena {b.arena:,} B, "
            f"timer {b.timer} ({b.unit})")
    if result.result is not None:
        r = result.result
        say(f"{r.runs} runs: median {r.median:,} {r.unit} (min {r.min:,}, max {r.max:,}), "
            f"checksum 0x{r.checksum:08x}" + (f", stack high-water mark {r.stack:,} B" if r.stack else ""))
    for layer in result.layers:
        say(f"  layer {layer.i:3d} {layer.name:24s} {layer.units:>14,}")
    if json_out is not None:
        say(f"wrote {json_out}")


@app.command("validate")
def validate_cmd(
    model: Path = typer.Argument(..., help="An int8 .tflite model."),
    board: str = typer.Option("host", "--board", help="Where to run the compiled model (host: here)."),
    samples: int = typer.Option(100, "--samples", help="Random inputs, uniform over the input range."),
    inputs: Path | None = typer.Option(None, "--inputs", help=".npz with inputs (one array per input)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the result as JSON here."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs."),
    port: str | None = typer.Option(None, "--port", help="Serial port of a real board."),
    runtime: str = typer.Option("aot", "--runtime", help="aot (against LiteRT's kernels) or tflm "
                                "(against TensorFlow Lite Micro's interpreter; needs a board)."),
    tflm_dir: Path | None = _tflm_dir_option(),
    test: Path | None = _test_option("its samples are the inputs; adds float, host and device accuracy"),
    preprocess: Path | None = _preprocess_option(),
    float_model: Path | None = _float_option(),
    optimize: str = _optimize_option(),
) -> None:
    """Compile the model, run it, and compare every output with the runtime's reference bit for bit.

    --board host compiles for this machine (ASan/UBSan); an emulated board runs the firmware under
    QEMU, a real board is flashed and talked to over --port. Exits 1 if any sample differs.
    Example: tinypipe validate out/digits/model.tflite --board qemu-m4 --samples 20
    """
    from tinypipe.validate import validate

    check_output(json_out, "file", "--json")
    source = inputs or test
    what = f"the samples of {source.name}" if source else f"{samples} samples"
    with progress_display(f"compiling {model.name} for {board} and running {what}"):
        result = validate(model, board=board, samples=samples, inputs=inputs, json_out=json_out, seed=seed,
                          port=port, runtime=runtime, tflm_dir=tflm_dir, test=test, preprocess=preprocess,
                          float_model=float_model, optimize=optimize)
    for out in result.outputs:  # names come from the model: printed without markup
        console.print(f"  output '{out.name}': {out.bit_exact}/{result.samples} bit-exact, "
                      f"max |diff| {out.max_abs_diff:g}", highlight=False, markup=False)
    if result.accuracy is not None:
        print_accuracy(result.accuracy)
    console.print(result.summary(), style="green" if result.ok else "bold red", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


# --- boards, build, flash, emulate -------------------------------------------------------------


@app.command("boards")
def boards_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the boards (one YAML file each in boards/): core, clock, memory, runtimes, where they
    run, and what has been verified of their firmware (build, link, run: ci, manual or none).

    Example: tinypipe boards
    """
    from rich.table import Column, Table

    from tinypipe.boards import list_boards

    boards = list_boards()
    if as_json:
        print(json.dumps([{"id": b.id, "name": b.name, "core": b.core, "clock_hz": b.clock_hz,
                           "flash": b.memory.flash.size, "ram": b.memory.ram.size,
                           "fast_ram": b.memory.fast_ram.size if b.memory.fast_ram else None,
                           "runtimes": list(b.runtimes), "emulated": b.emulated,
                           "verified": {"build": b.verified.build, "link": b.verified.link,
                                        "run": b.verified.run, "why": b.verified.why}} for b in boards],
                         indent=2))
        return
    table = Table("core", "clock", "flash", "RAM", "runtimes", "runs on", "verified (build, link, run)")
    table.columns.insert(0, Column("board", no_wrap=True))
    for b in boards:
        fpu = "" if b.fpu == "none" else "F"
        fast = f" + {b.memory.fast_ram.size // 1024:,} fast" if b.memory.fast_ram else ""
        v = b.verified
        table.add_row(b.id, b.core.removeprefix("cortex-") + fpu, f"{b.clock_hz / 1e6:g} MHz",
                      f"{b.memory.flash.size // 1024:,} KB", f"{b.memory.ram.size // 1024:,} KB{fast}",
                      ", ".join(b.runtimes),
                      f"QEMU {b.emulator.machine}" if b.emulator else "hardware",
                      f"{v.build}, {v.link}, {v.run}")
    console.print(table)
    console.print("verified: ci = by the test suite, manual = once by hand, none = not at all.")
    for b in boards:
        if b.verified.why and "none" in (b.verified.build, b.verified.link, b.verified.run):
            console.print(f"  {b.id}: {b.verified.why}", highlight=False, markup=False)


@app.command("build")
def build_cmd(
    project: Path = typer.Argument(..., help="A PlatformIO project written by `tinypipe export`."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show PlatformIO's output."),
) -> None:
    """Compile the firmware (`pio run`) and print its flash and RAM use.

    Example: tinypipe build out/fw
    """
    from tinypipe.build import build

    r = build(project, echo=print if verbose else None)
    console.print(f"{r.elf}: flash {r.flash_used:,} B (text {r.text:,} + data {r.data:,}), "
                  f"static RAM {r.ram_used:,} B (data {r.data:,} + bss {r.bss:,})")


@app.command("flash")
def flash_cmd(
    project: Path = typer.Argument(..., help="A PlatformIO project for a real board."),
    port: str | None = typer.Option(None, "--port", help="Upload port, e.g. /dev/ttyACM0 (default: auto)."),
) -> None:
    """Build and upload the firmware to a connected board (`pio run -t upload`).

    A --port that does not exist, or a pinned PlatformIO package that is neither installed nor
    downloadable, fails before anything is built. Example: tinypipe flash out/fw --port /dev/ttyACM0
    """
    from tinypipe.build import flash

    flash(project, port=port, echo=print)


@app.command("emulate")
def emulate_cmd(
    project: Path = typer.Argument(..., help="A PlatformIO project for an emulated (qemu-*) board."),
    timeout: float = typer.Option(120.0, "--timeout", help="Watchdog: kill QEMU after this many seconds."),
) -> None:
    """Run the firmware under QEMU, stream its serial output, exit with the firmware's exit code.

    A tinypipe harness waits for validation requests after `TP READY`; emulate answers with the
    protocol's BYE, so the benchmark ends on its own. Example: tinypipe emulate out/fw --timeout 60
    """
    from tinypipe.build import emulate
    from tinypipe.device.protocol import FrameType, encode_frame

    with emulate(project, timeout_s=timeout) as session:
        pending = bytearray()  # the start of a line not yet complete
        said_bye = False

        def show(chunk: bytes) -> None:
            nonlocal said_bye
            pending.extend(chunk)
            *lines, rest = bytes(pending).split(b"\n")
            pending[:] = rest
            for line in lines:
                if said_bye:  # after BYE: the records, not the binary reply frame before them
                    if b"TP " not in line:
                        continue
                    line = line[line.index(b"TP "):]
                sys.stdout.buffer.write(line + b"\n")
                if line.startswith(b"TP READY") and not said_bye:
                    session.serial().write(encode_frame(FrameType.BYE))
                    said_bye = True
            sys.stdout.flush()

        session.read_until_exit(show)
        code = session.wait()
    raise typer.Exit(code)


# --- the whole road: bench and run ------------------------------------------------------------


def _print_summary(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


@app.command("bench")
def bench_cmd(
    model: Path = typer.Argument(..., help="An int8 .tflite model."),
    board: str = typer.Option(..., "--board", help="A board id from `tinypipe boards`."),
    runtime: str = _runtime_option(),
    runs: int = typer.Option(10, "--runs", help="Timed inferences (after warm-up)."),
    validate: int = typer.Option(10, "--validate", help="Random inputs validated bit-for-bit on the device."),
    profile: bool = typer.Option(False, "--profile", help="Per-layer timing compiled into the firmware."),
    port: str | None = typer.Option(None, "--port", help="Serial port of a real board."),
    out: Path = typer.Option(Path("out/bench"), "--out", help="Directory for bench.json, report.md, plots."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds of silence before giving up."),
    estimate_for: str | None = typer.Option(
        None, "--estimate-for", help="A real board (e.g. nucleo-l4r5zi): estimate the cycles and ms of one "
        "inference on it from the instruction stream QEMU executes (--board: a QEMU board with its core)."),
    tflm_dir: Path | None = _tflm_dir_option(),
    test: Path | None = _test_option("sent to the device instead of random inputs; adds float, host and "
                                     "device accuracy to bench.json"),
    preprocess: Path | None = _preprocess_option(),
    float_model: Path | None = _float_option(),
    optimize: str = _optimize_option(),
) -> None:
    """Export, build, flash or emulate, read the results over serial, validate, and report.

    Example: tinypipe bench out/digits/model.tflite --board qemu-m4 --out out/bench

    Cycle estimate: tinypipe bench MODEL --board qemu-m4 --estimate-for nucleo-l4r5zi
    """
    from tinypipe.bench import bench, summary_rows

    check_output(out, "dir")
    with progress_display(f"bench {model.name} on {board}") as stage:
        result = bench(model, board, out, runtime=runtime, runs=runs, validate=validate, profile=profile,
                       port=port, timeout_s=timeout, echo=stage,
                       estimate_for=estimate_for, tflm_dir=tflm_dir, test=test, preprocess=preprocess,
                       float_model=float_model, optimize=optimize)
    _print_summary(f"{model.name} on {board} ({result['runtime']})", summary_rows(result))
    if result.get("accuracy"):
        print_accuracy(result["accuracy"])
    console.print(f"report: {result['report']}", soft_wrap=True)


@app.command("compare")
def compare_cmd(
    model: Path = typer.Argument(..., help="An int8 .tflite model."),
    board: str = typer.Option(..., "--board", help="A board id from `tinypipe boards`."),
    runtimes: str = typer.Option("aot,tflm", "--runtime", help="Comma-separated: aot, tflm (the board's "
                                 "kernels), tflm-ref (reference kernels), tflm-cmsis-nn."),
    runs: int = typer.Option(10, "--runs", help="Timed inferences per runtime."),
    validate: int = typer.Option(10, "--validate", help="Random inputs validated bit-for-bit per runtime."),
    port: str | None = typer.Option(None, "--port", help="Serial port of a real board."),
    out: Path = typer.Option(Path("out/compare"), "--out", help="Directory for compare.json/.md and "
                             "one bench directory per runtime."),
    tflm_dir: Path | None = _tflm_dir_option(),
    test: Path | None = typer.Option(None, "--test", help="Test data (.npz with x and y, an image or WAV "
                                     "folder, a CSV): each runtime's accuracy on the device."),
    preprocess: Path | None = typer.Option(None, "--preprocess", help="A Python file defining "
                                           "preprocess(x) for --test data."),
    optimize: str = _optimize_option(),
) -> None:
    """Build, run and validate the model under several runtimes on one board; one table.

    Latency, MACs per unit, code and weights flash, arena reserved and used, other RAM, and
    exactness against each runtime's own reference. Exits 1 if a runtime fails or is not exact.
    Example: tinypipe compare out/digits/model.tflite --board qemu-m4 --runtime aot,tflm,tflm-ref
    """
    from rich.table import Table

    from tinypipe.compare import compare, table_rows

    check_output(out, "dir")
    with progress_display(f"compare {model.name} on {board}") as stage:
        result = compare(model, board, out, runtimes.split(","), runs=runs, validate=validate, port=port,
                         tflm_dir=tflm_dir, echo=stage, test=test, preprocess=preprocess, optimize=optimize)
    rows = table_rows(result)
    table = Table(*rows[0], title=f"{model.name} on {result.board}")
    for row in rows[1:]:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
    console.print(f"table: {result.markdown}", soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


@app.command("train")
def train_cmd(
    recipe: str = typer.Argument(..., help="sine | digits | faces | kws | anomaly | streaming_kws"),
    out: Path = typer.Option(..., "--out", help="Output directory (model, test/calib sets, train.json)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (default: the recipe's own)."),
    seed: int = typer.Option(0, "--seed", help="Seed for data split, augmentation and weights."),
) -> None:
    """Train a recipe's float Keras model and write its test and calibration sets.

    Recipes: sine (regression, MAE), digits (8x8 digits CNN), faces (person/no-person CNN),
    kws (keyword spotting DS-CNN on espeak-ng speech), anomaly (autoencoder, ROC AUC),
    streaming_kws (a keyword spotter fed one frame per inference, its ring buffer in resource
    variables; writes the int8 streaming .tflite and a frame sequence to validate it with).

    Example: tinypipe train digits --out out/digits --epochs 20
    """
    from tinypipe.train import train

    check_output(out, "dir")
    if recipe == "streaming_kws":  # trains, then converts its own stateful model
        from tinypipe.recipes.streaming_kws import build

        with progress_display(f"train {recipe}"):
            result = build(out)
        console.print(f"{recipe}: float accuracy {result.float_accuracy:.4f}, {result.seconds:.0f} s")
        for path in (result.model, result.stream, result.info):
            console.print(f"wrote {path}")
        console.print(f"validate: tinypipe validate {result.model} --board qemu-m4 --inputs {result.stream}")
        return
    with progress_display(f"train {recipe}"):
        r = train(recipe, out, epochs=epochs, seed=seed)
    console.print(f"{r.recipe}: float {r.metric} {r.float_metric:.4f}, {r.epochs} epochs, {r.seconds:.0f} s")
    for path in (r.model, r.test, r.calib, r.info):
        console.print(f"wrote {path}")


@app.command("quantize")
def quantize_cmd(
    model: Path = typer.Argument(..., help="A .keras file, a SavedModel directory or an .onnx model "
                                 "(needs `make onnx`)."),
    calib: Path = typer.Option(..., "--calib", help="Calibration .npz with array x (N, *input shape)."),
    out: Path = typer.Option(..., "--out", help="The int8 .tflite to write (report: NAME.quant.json)."),
    test: Path | None = _test_option("compare float vs int8 on it"),
    preprocess: Path | None = _preprocess_option(),
    qat: bool = typer.Option(False, "--qat", help="Quantization-aware fine-tuning (needs `make qat`)."),
    prune: float | None = typer.Option(None, "--prune", help="Prune to this sparsity first, e.g. 0.5."),
    train: Path | None = typer.Option(
        None, "--train", help="Training .npz (x, y) for --qat/--prune (default: train.npz beside MODEL)."
    ),
    finetune_epochs: int | None = typer.Option(
        None, "--finetune-epochs", help="Fine-tuning epochs for --qat/--prune (default 4)."
    ),
    activations: str = typer.Option(
        "int8", "--activations", help="int8 (default), or int16: 16x8 quantization (int16 activations "
        "and I/O, int8 weights)."
    ),
) -> None:
    """Full-integer int8 quantization (int8 input, output and kernels) with a float-vs-int8 report.

    Example: tinypipe quantize out/digits/model.keras --calib out/digits/calib.npz
    --test out/digits/test.npz --out out/digits/model.tflite [--prune 0.5] [--qat]
    """
    from tinypipe.quantize import quantize

    check_output(out, "file")
    r = quantize(model, calib, out, test=test, qat=qat, prune=prune, train=train,
                 finetune_epochs=finetune_epochs, preprocess=preprocess, activations=activations)
    if r.accuracy is not None:
        print_accuracy(r.accuracy)
    if r.finetune is not None and r.finetune.get("float_metric") is not None:
        console.print(f"after fine-tuning ({r.finetune['epochs']} epochs): float "
                      f"{r.finetune['float_metric']:.4f}" + (" (with fake quantization)" if r.qat else ""))
    if r.prune is not None:
        console.print(f"int8 weight sparsity: {r.prune['achieved']:.3f} (target {r.prune['target']}); "
                      "dense on the device, smaller compressed")
    quantized = "int8" if r.activations == "int8" else "16x8"
    console.print(f"size: float {r.float_bytes} B  {quantized} {r.int8_bytes} B  "
                  f"zlib {r.compressed_bytes} B  ops: {', '.join(r.opcodes)}")
    console.print(f"input scale {r.input['scale']:.6g} zero point {r.input['zero_point']}")
    console.print(f"wrote {r.out}\nwrote {r.report}")


@app.command("run")
def run_cmd(
    recipe: str = typer.Argument(..., help="A built-in recipe: sine, digits, faces, kws, anomaly."),
    board: str = typer.Option(..., "--board", help="A board id from `tinypipe boards`."),
    runtime: str = _runtime_option(),
    out: Path = typer.Option(Path("out/run"), "--out", help="Directory for the model, firmware and report."),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs (default: the recipe's)."),
    seed: int = typer.Option(0, "--seed", help="Training seed."),
    runs: int = typer.Option(10, "--runs", help="Timed inferences on the device."),
    samples: int = typer.Option(1000, "--samples", help="Test-set samples run on the device (at most)."),
    profile: bool = typer.Option(False, "--profile", help="Per-layer timing compiled into the firmware."),
    port: str | None = typer.Option(None, "--port", help="Serial port of a real board."),
    tflm_dir: Path | None = _tflm_dir_option(),
    optimize: str = _optimize_option(),
) -> None:
    """Train a recipe, quantize it to int8, and bench it on a board with its test set.

    Example: tinypipe run digits --board qemu-m4 --out out/demo
    """
    from tinypipe.bench import summary_rows
    from tinypipe.run import run

    check_output(out, "dir")
    with progress_display(f"run {recipe} on {board}") as stage:
        result = run(recipe, board, out, runtime=runtime, epochs=epochs, seed=seed, runs=runs,
                     device_samples=samples, profile=profile, port=port, tflm_dir=tflm_dir,
                     echo=stage, optimize=optimize)
    acc = result["accuracy"]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    accuracy = (f"float {fmt(acc['float'])} | int8 host {fmt(acc['int8_host'])} | "
                f"16x8 host {fmt(acc.get('int16_host'))} | "
                f"int8 device {fmt(acc['device'])} ({acc['device_samples']} samples)")
    rows = [(acc["metric"] or "metric", accuracy)]
    _print_summary(f"{recipe} on {board} ({result['runtime']})", rows + summary_rows(result))
    console.print(f"report: {result['report']}", soft_wrap=True)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log lines are not for users
    try:
        app()
    except TinypipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # a file system failure while writing results (disk full, permissions)
        if exc.filename is None and exc.errno is None:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}\n  hint: check the output path and free space",
              file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
