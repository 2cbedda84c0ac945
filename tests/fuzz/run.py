"""The hostile-model fuzzer behind `make fuzz`: tinypipe's CLI on mutants of the MLPerf Tiny models.

    python -m tests.fuzz.run --inspect 10000 --validate 300 --build 50 --emulate 60 --json out/fuzz/fuzz.json

Four stages, each mutant in its own process with a timeout:

* `inspect`  - `tinypipe inspect MUTANT` (three in four with --json, whose figures are checked);
* `validate` - `tinypipe validate MUTANT --board host` (the host build has ASan/UBSan) on mutants
  that still parse;
* `build`    - `tinypipe export MUTANT --board qemu-m4` then `tinypipe build` (no emulation);
* `emulate`  - `tinypipe validate MUTANT --board qemu-m4|qemu-m55 --optimize ram|balanced|time`:
  the firmware with the DSP and Helium kernels (their assembly) under QEMU, whose MPU makes a
  store to flash or address 0 fault.

The CLI (`tinypipe.cli.main`) runs in a child forked from a worker that has already imported
tinypipe, in its own session: a mutant costs its own work, not Python's start-up, and a signal
or a hang ends only that child (and its process group). No model is loaded in the workers.

Every run gets one outcome: ok, refused (exit 2 with an `error:` line), mismatch (validate's
exit 1: the compiled model differs from the reference), bad-output (exit 0 with impossible
figures, or exit 2 without the one-line error), traceback, signal, sanitizer, compile-failure,
fault (the firmware crashed), hang. A process pool of `--jobs` workers (default 2) runs the
mutants; the counts per stage, mutation kind and outcome are printed and written as JSON. Exit
code 1 if any outcome is bad.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.fuzz.mutate import KINDS, mutate, parses

ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = Path(os.environ.get("TP_FUZZ_MODELS", ROOT.parent / "shared" / "models" / "mlperf-tiny"))
SEED_MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
OUTCOMES = ("ok", "refused", "mismatch", "bad-output", "traceback", "signal", "sanitizer", "compile-failure",
            "fault", "hang")
BAD = {"mismatch", "bad-output", "traceback", "signal", "sanitizer", "compile-failure", "fault", "hang"}
TIMEOUTS = {"inspect": 60.0, "validate": 600.0, "export": 300.0, "build": 900.0, "emulate": 900.0}
EMULATE_BOARDS = ("qemu-m4", "qemu-m55")  # the DSP and the Helium kernels
GOALS = ("balanced", "ram", "time")  # --optimize: every kernel variant, narrowed or not
SANITIZER = re.compile(r"AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|runtime error:")
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no", "COLUMNS": "160"}


@dataclass
class Task:
    stage: str  # inspect | validate | build | emulate
    index: int
    kind: str
    model: str
    seed: str


@dataclass
class Result:
    stage: str
    index: int
    kind: str
    model: str
    mutation: str  # what the mutator changed
    outcome: str
    detail: str  # the first lines of the error, for anything but ok
    seconds: float


@dataclass
class Run:
    code: int  # exit code, or -signal
    out: str
    err: str
    timed_out: bool


# --- running the CLI ---------------------------------------------------------------------------


def _warm_up() -> None:
    """Pool initializer: import what `tinypipe inspect` needs once, so forked children start warm."""
    os.environ.update(ENV)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import tinypipe.cli  # noqa: F401
    import tinypipe.export  # noqa: F401
    import tinypipe.inspect  # noqa: F401
    import tinypipe.reference  # noqa: F401
    import tinypipe.validate  # noqa: F401
    from tinypipe.aot import codegen, lowering, planner  # noqa: F401
    from tinypipe.device import host  # noqa: F401

    lowering.supported_ops()
    with contextlib.suppress(ImportError):
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    with contextlib.suppress(ImportError):
        from ai_edge_litert import interpreter  # noqa: F401  (imported only: no model is loaded here)
    import rich.table  # noqa: F401
    import typer.main

    # Typer builds the click command on every call of the app; build it once per worker.
    command = typer.main.get_command(tinypipe.cli.app)
    typer.main.get_command = lambda app: command  # type: ignore[assignment]
    # One warm-up run of each code path fills every lazy cache (click, rich, numpy) once per worker.
    seed = str(MODELS_DIR / f"{SEED_MODELS[0]}.tflite")
    for args in (["inspect", seed], ["inspect", seed, "--json"], ["inspect", "/nonexistent.tflite"]):
        sys.argv = ["tinypipe", *args]
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink), contextlib.suppress(SystemExit):
            tinypipe.cli.main()
    gc.collect()
    gc.freeze()  # forked children then never walk (and copy) the worker's objects in a collection


def run_forked(args: list[str], timeout: float, work: Path) -> Run:
    """`tinypipe ARGS` as tinypipe.cli.main() in a forked child (own session, output to files)."""
    out_path, err_path = work / "stdout", work / "stderr"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.setsid()
            for fd, path in ((1, out_path), (2, err_path)):
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(f, fd)
                os.close(f)
            # sys.stdout/stderr may be someone else's objects (pytest's capture): write to fds 1 and 2
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            sys.argv = ["tinypipe", *args]
            from tinypipe.cli import main

            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    timed_out = False
    try:
        fd = os.pidfd_open(pid)
        ready, _, _ = select.select([fd], [], [], timeout)
        os.close(fd)
        if not ready:
            timed_out = True
            os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return Run(code, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"), timed_out)


def run_subprocess(args: list[str], timeout: float) -> Run:
    """`python -m tinypipe.cli ARGS` in a new session, killed as a group on timeout."""
    proc = subprocess.Popen([sys.executable, "-m", "tinypipe.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
                            cwd=ROOT, env={**os.environ, **ENV})
    try:
        out, err = proc.communicate(timeout=timeout)
        return Run(proc.returncode, out, err, False)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Run(proc.returncode, out, err, True)


# --- outcomes ----------------------------------------------------------------------------------


def _impossible_figures(report: dict[str, Any]) -> str:
    """Why an `inspect --json` report cannot be right, or ''."""
    for key in ("macs", "params", "weight_bytes", "size_bytes"):
        if not isinstance(report.get(key), int) or report[key] < 0:
            return f"{key} = {report.get(key)!r}"
    for key in ("tflm_arena_bytes", "aot_arena_bytes"):
        if report.get(key) is not None and report[key] <= 0:
            return f"{key} = {report[key]!r}"
    for op in report.get("ops", []):
        if op["macs"] < 0 or op["params"] < 0:
            return f"op {op['index']}: macs {op['macs']}, params {op['params']}"
        for t in op["inputs"] + op["outputs"]:
            if any(not isinstance(d, int) or d <= 0 for d in t["shape"]):
                return f"op {op['index']}: tensor '{t['name']}' shape {t['shape']}"
    return ""


def classify(stage: str, run: Run, json_report: bool = False) -> tuple[str, str]:
    """(outcome, detail) of one CLI run."""
    text = run.out + "\n" + run.err
    lines = [ln for ln in run.err.strip().splitlines() if ln.strip()]
    detail = "\n".join(lines[-12:])
    if run.timed_out:
        return "hang", detail
    if SANITIZER.search(text):
        return "sanitizer", "\n".join(ln for ln in text.splitlines() if SANITIZER.search(ln))[:2000]
    if run.code < 0:
        return "signal", f"killed by {signal.Signals(-run.code).name}\n{detail}"
    if "Traceback (most recent call last)" in text:
        return "traceback", detail
    if "host compile of" in run.err or "host link failed" in run.err:
        return "compile-failure", detail
    if re.search(r"host run of '\w+' failed \(exit -\d+\)", run.err):
        return "signal", detail
    if run.code == 2 and re.search(r"the firmware (faulted|exited with code)", run.err):
        return "fault", detail
    if run.code == 2:
        errors = [ln for ln in lines if ln.startswith("error: ")]
        if len(errors) == 1 and lines[0] == errors[0] and len(lines) <= 2:
            return "refused", errors[0]
        return "bad-output", "exit 2 without one error line:\n" + detail
    if run.code == 1 and stage in ("validate", "emulate") and "MISMATCH" in run.out:
        return "mismatch", run.out.strip().splitlines()[-1]
    if run.code == 0:
        if json_report:
            try:
                report = json.loads(run.out)
            except ValueError as exc:
                return "bad-output", f"--json printed invalid JSON ({exc})"
            why = _impossible_figures(report)
            if why:
                return "bad-output", why
        return "ok", ""
    return "traceback", f"exit {run.code}\n{detail}"


# --- one task ----------------------------------------------------------------------------------


def _seed_bytes(model: str) -> bytes:
    return (MODELS_DIR / f"{model}.tflite").read_bytes()


def make_mutant(task: Task) -> tuple[bytes, str]:
    """The task's mutant; validate and build mutants are re-drawn until they still parse."""
    data = _seed_bytes(task.model)
    for attempt in range(50):
        mutant, what = mutate(data, task.kind, f"{task.seed}:{attempt}")
        if task.stage == "inspect" or (mutant != data and parses(mutant)):
            return mutant, what
    return mutate(data, "structured", task.seed)


def run_task(task: Task, save_dir: str | None = None) -> Result:
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"tp-fuzz-{task.stage}-{task.index}-"))
    try:
        mutant, what = make_mutant(task)
        path = work / f"{task.model}-{task.kind}-{task.index}.tflite"
        path.write_bytes(mutant)
        if task.stage == "inspect":
            as_json = task.index % 4 != 1  # one in four prints the rich tables (markup in names)
            args = ["inspect", str(path), *(["--json"] if as_json else [])]
            run = run_forked(args, TIMEOUTS["inspect"], work)
            outcome, detail = classify("inspect", run, json_report=as_json)
        elif task.stage == "validate":
            run = run_forked(["validate", str(path), "--board", "host", "--samples", "3", "--seed",
                              str(task.index)], TIMEOUTS["validate"], work)
            outcome, detail = classify("validate", run)
        elif task.stage == "emulate":
            board = EMULATE_BOARDS[task.index % len(EMULATE_BOARDS)]
            goal = GOALS[task.index // len(EMULATE_BOARDS) % len(GOALS)]
            run = run_forked(["validate", str(path), "--board", board, "--samples", "3", "--seed",
                              str(task.index), "--optimize", goal], TIMEOUTS["emulate"], work)
            outcome, detail = classify("emulate", run)
            what += f" ({board}, --optimize {goal})"
        else:
            project = work / "fw"
            run = run_forked(["export", str(path), "--board", "qemu-m4", "--out", str(project)],
                             TIMEOUTS["export"], work)
            outcome, detail = classify("export", run)
            if outcome == "ok":
                run = run_forked(["build", str(project)], TIMEOUTS["build"], work)
                outcome, detail = classify("build", run)
                if outcome == "refused":  # export accepted the model: its firmware must build
                    outcome = "compile-failure"
        if outcome in BAD and save_dir:
            Path(save_dir).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(save_dir) / f"{task.stage}-{task.index}-{outcome}-{path.name}")
    except Exception:  # a bug in the fuzzer itself: reported, never silently dropped
        what, outcome, detail = "?", "traceback", "fuzzer: " + traceback.format_exc()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Result(task.stage, task.index, task.kind, task.model, what, outcome, detail[:3000],
                  round(time.monotonic() - start, 3))


def _run_task_star(args: tuple[Task, str | None]) -> Result:
    return run_task(*args)


# --- the campaign ------------------------------------------------------------------------------


def tasks(stage: str, count: int, seed: int) -> list[Task]:
    """`count` tasks cycling through every (mutation kind, seed model) pair."""
    out = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        if stage != "inspect" and kind == "truncate" and i % 8 != 3:
            kind = "structured"  # truncated files almost never still parse; keep a few
        model = SEED_MODELS[(i // len(KINDS)) % len(SEED_MODELS)]
        out.append(Task(stage, i, kind, model, f"{seed}:{stage}:{i}"))
    return out


def run_campaign(n_inspect: int, n_validate: int, n_build: int, seed: int = 0, jobs: int = 2,
                 save_dir: str | None = None, progress: bool = False, n_emulate: int = 0) -> dict[str, Any]:
    """Run the four stages; returns the summary (see `summarize`)."""
    todo = [*tasks("emulate", n_emulate, seed), *tasks("build", n_build, seed),
            *tasks("validate", n_validate, seed), *tasks("inspect", n_inspect, seed)]
    start = time.monotonic()
    results: list[Result] = []
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs, initializer=_warm_up) as pool:
        jobs_in = [(t, save_dir) for t in todo]
        for k, r in enumerate(pool.imap_unordered(_run_task_star, jobs_in, chunksize=1)):
            results.append(r)
            if progress and (k + 1) % 100 == 0 or progress and r.outcome in BAD:
                bad = sum(x.outcome in BAD for x in results)
                print(f"[{k + 1}/{len(todo)}] {time.monotonic() - start:.0f} s, {bad} bad"
                      + (f"; {r.stage} #{r.index} {r.kind} {r.model}: {r.outcome}: {r.mutation}"
                         if r.outcome in BAD else ""), file=sys.stderr, flush=True)
    return summarize(results, time.monotonic() - start, seed, jobs)


def _examples(bad: list[Result], per_group: int = 10) -> list[Result]:
    """Up to `per_group` bad results per (stage, outcome), in index order."""
    seen: Counter[tuple[str, str]] = Counter()
    out = []
    for r in sorted(bad, key=lambda r: (r.stage, r.index)):
        seen[r.stage, r.outcome] += 1
        if seen[r.stage, r.outcome] <= per_group:
            out.append(r)
    return out


def summarize(results: list[Result], seconds: float, seed: int, jobs: int) -> dict[str, Any]:
    counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    fields: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for r in results:
        counts[r.stage][r.kind][r.outcome] += 1
        counts[r.stage]["all"][r.outcome] += 1
        if r.kind == "structured":
            fields[r.stage][r.mutation.split(":")[0]][r.outcome] += 1
    bad = [r for r in results if r.outcome in BAD]
    return {
        "seed": seed, "jobs": jobs, "seconds": round(seconds, 1), "mutants": len(results),
        "outcomes": list(OUTCOMES), "bad_outcomes": sorted(BAD),
        "counts": {s: {k: dict(sorted(c.items())) for k, c in sorted(kinds.items())}
                   for s, kinds in sorted(counts.items())},
        "structured_fields": {s: {k: dict(sorted(c.items())) for k, c in sorted(f.items())}
                              for s, f in sorted(fields.items())},
        "bad": len(bad),
        "bad_examples": [asdict(r) for r in _examples(bad)],
        "slowest": [asdict(r) for r in sorted(results, key=lambda r: -r.seconds)[:5]],
    }


def format_table(summary: dict[str, Any]) -> str:
    lines = []
    for stage, kinds in summary["counts"].items():
        cols = [o for o in OUTCOMES if any(o in c for c in kinds.values())] or ["ok"]
        lines.append(f"{stage}:")
        lines.append(f"  {'kind':<12}" + "".join(f"{c:>16}" for c in cols))
        for kind in [*KINDS, "all"]:
            if kind in kinds:
                lines.append(f"  {kind:<12}" + "".join(f"{kinds[kind].get(c, 0):>16}" for c in cols))
    lines.append(f"{summary['mutants']} mutants in {summary['seconds']} s, {summary['bad']} bad outcomes")
    return "\n".join(lines)


def format_markdown(summary: dict[str, Any]) -> str:
    """The counts as Markdown tables, one per stage (rows: mutation kind; columns: outcome)."""
    out = []
    for stage, kinds in summary["counts"].items():
        cols = [o for o in OUTCOMES if any(o in c for c in kinds.values())] or ["ok"]
        out += [f"**{stage}**", "", "| kind | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for kind in [*KINDS, "all"]:
            if kind in kinds:
                out.append(f"| {kind} | " + " | ".join(str(kinds[kind].get(c, 0)) for c in cols) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inspect", type=int, default=10_000, help="inspect mutants")
    ap.add_argument("--validate", type=int, default=300, help="validate --board host mutants")
    ap.add_argument("--build", type=int, default=50, help="export + build mutants for qemu-m4")
    ap.add_argument("--emulate", type=int, default=60, help="validate mutants on qemu-m4 and qemu-m55")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    ap.add_argument("--save", default=None, help="copy every mutant with a bad outcome into this directory")
    args = ap.parse_args(argv)
    if not MODELS_DIR.is_dir():
        print(f"fuzz: the MLPerf Tiny models are not in {MODELS_DIR}", file=sys.stderr)
        return 2
    summary = run_campaign(args.inspect, args.validate, args.build, args.seed, args.jobs, args.save,
                           progress=True, n_emulate=args.emulate)
    print(format_table(summary))
    for r in summary["bad_examples"][:20]:
        print(f"  {r['stage']} #{r['index']} {r['kind']} {r['model']} ({r['mutation']}): {r['outcome']}\n"
              + "\n".join("      " + ln for ln in r["detail"].splitlines()[-4:]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 1 if summary["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
