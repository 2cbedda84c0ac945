"""The fidelity campaign behind `make fidelity` (issue 13): random multi-operator models, bit for bit.

    python -m tests.fidelity.run --models 400 --seed 1 --out bench/results

Every model (tests/fidelity/generate.py) is sampled and converted to full int8 by the TFLite
converter in `--jobs` spawned worker processes (TensorFlow is imported only there), compiled by
the aot generator, built with every other model of its chunk into ONE sanitized host binary
(tinypipe/device/host.py, ASan/UBSan), and run on random int8 inputs (the whole range, both ends
included) against LiteRT's built-in kernels (tinypipe/reference.py). Each model gets one outcome:

* exact             - every output equal, bit for bit, on every input;
* refused           - the aot generator refused it (its one-line error is kept);
* mismatch          - some output differs (the first differing element is kept);
* converter-failed  - the TFLite converter (or Keras) failed on it;
* reference-failed  - LiteRT could not load or run the converted model;
* crash             - anything else: a traceback, a host compile failure, a sanitizer report.

Counts per operator (every builtin in the converted graph; `refusing` = refusals naming that
operator) and per Keras layer kind are printed and written as bench/results/fidelity-<date>.json
and .md. Exit code 1 if any model ends in mismatch or crash.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from tests.fidelity.generate import Converted, Spec, convert
from tinypipe.errors import TinypipeError

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = ("exact", "refused", "mismatch", "converter-failed", "reference-failed", "crash")
BAD = {"mismatch", "crash"}
CHUNK = 40  # models per sanitized host binary
N_INPUTS = 20  # random inputs per model


@dataclass
class ModelResult:
    id: str
    outcome: str
    detail: str = ""  # the refusal line, the first differing element, the failure
    ops: list[str] = field(default_factory=list)  # builtins of the converted graph (sorted, distinct)
    layers: list[str] = field(default_factory=list)  # the spec's layer kinds, in order
    refusing: str = ""  # the operator a refusal names
    spec: Spec = field(default_factory=dict)


def _worker_init() -> None:
    """A converter worker: TensorFlow's and the converter's chatter (stdout and stderr) is
    dropped; its failures come back as exceptions, one line each."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:600] if text else type(exc).__name__


def model_inputs(details: list[dict[str, Any]], n: int, seed: int) -> list[np.ndarray]:
    """n random int8 samples per input, both ends of the range included; a DIV divisor (input
    named div*) never takes its zero point (LiteRT divides by zero there, with undefined results)."""
    rng = np.random.default_rng(seed)
    xs = []
    for d in details:
        x = rng.integers(-128, 128, size=(n, *d["shape"]), dtype=np.int8)
        x[0], x[-1] = -128, 127
        if re.search(r"(^|_)div\d", d["name"]):
            zero = int(d["quantization"][1])
            x[x == zero] = zero - 1 if zero > -128 else zero + 1
        xs.append(x)
    return xs


def first_difference(got: np.ndarray, want: np.ndarray) -> str:
    diff = np.abs(got.astype(np.int32) - want.astype(np.int32)).reshape(len(got), -1)
    bad = np.nonzero(diff.max(axis=1) > 0)[0]
    k = int(bad[0])
    flat = int(np.argmax(diff[k] > 0))
    where = tuple(int(i) for i in np.unravel_index(flat, got.shape[1:]))
    return (f"{len(bad)}/{len(got)} inputs differ, {int((diff > 0).sum())} elements; first: input #{k}, "
            f"element {list(where)}: aot {int(got[k].reshape(-1)[flat])} vs LiteRT "
            f"{int(want[k].reshape(-1)[flat])}; max |diff| {int(diff.max())}")


def _generate(c: Converted, work: Path) -> tuple[ModelResult, Any]:
    """aot-compile one converted model: (result so far, AotModel or None)."""
    from tinypipe.aot.codegen import generate
    from tinypipe.graph import parse

    layers = [s["layer"] for s in c.spec.get("steps", [])]
    result = ModelResult(c.id, "crash", layers=layers, spec=c.spec)
    if c.model is None:
        result.outcome, result.detail = "converter-failed", c.error
        return result, None
    try:
        result.ops = sorted({o.opcode for o in parse(c.model).operators})
        path = work / f"{c.id}.tflite"
        path.write_bytes(c.model)
        aot = generate(path, work / "gen", name=f"m_{c.id.replace('-', '_')}")
    except TinypipeError as exc:
        result.outcome, result.detail = "refused", _first_line(exc)
        found = re.search(r"operator ([A-Z0-9_]+) #\d+", result.detail)
        result.refusing = found.group(1) if found else ""
        return result, None
    except Exception as exc:  # noqa: BLE001 - a traceback in the generator is a finding
        result.detail = f"aot generation raised {type(exc).__name__}: {exc}"[:400]
        return result, None
    return result, aot


def _run_chunk(items: list[tuple[ModelResult, Any, bytes]], work: Path, n_inputs: int) -> None:
    """One sanitized host binary for the chunk's models (one per model if the chunk's fails)."""
    from tinypipe.device.host import HostRunner
    from tinypipe.reference import Reference

    try:
        shared = HostRunner([aot for _, aot, _ in items], work / "host")
        runner_of = {r.id: shared for r, _, _ in items}
    except TinypipeError:  # find the model whose C fails to build
        runner_of = {}
        for r, aot, _ in items:
            try:
                runner_of[r.id] = HostRunner([aot], work / f"host_{r.id}")
            except TinypipeError as exc:
                r.outcome, r.detail = "crash", "host compile failed: " + " ".join(str(exc).split())[:400]
    for r, aot, model in items:
        if r.id not in runner_of:
            continue
        try:
            reference = Reference(model)
            xs = model_inputs(reference.input_details, n_inputs, seed=int(r.spec.get("seed", 0)))
            want = reference.run_batch(xs)
        except TinypipeError as exc:
            r.outcome, r.detail = "reference-failed", _first_line(exc)
            continue
        try:
            got = runner_of[r.id].run(aot.name, xs)
        except TinypipeError as exc:
            r.outcome, r.detail = "crash", " ".join(str(exc).split())[:600]
            continue
        r.outcome, r.detail = "exact", ""
        for j, (g, w) in enumerate(zip(got, want, strict=True)):
            if g.shape != w.shape:
                r.outcome, r.detail = "mismatch", f"output {j}: shape {g.shape} != {w.shape}"
            elif not np.array_equal(g, w):
                r.outcome, r.detail = "mismatch", f"output {j}: {first_difference(g, w)}"
            if r.outcome != "exact":
                break


def _converted(jobs: list[tuple[str, int | None, Spec | None]], workers: int) -> Iterator[Converted]:
    if workers <= 0:  # in this process (TensorFlow gets imported here)
        yield from map(convert, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init) as pool:
        yield from pool.map(convert, jobs, chunksize=2)


def run_campaign(n_models: int, seed: int, jobs: int = 2, n_inputs: int = N_INPUTS,
                 specs: list[Spec] | None = None, work_dir: Path | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """Generate, convert, compile and compare `n_models` random models and the given specs;
    returns the summary (counts per outcome, per operator, per layer kind, and every model)."""
    start = time.monotonic()
    seeds = np.random.default_rng(seed).integers(2**31, size=n_models)
    todo: list[tuple[str, int | None, Spec | None]] = [(f"{seed}-{i}", int(v), None)
                                                       for i, v in enumerate(seeds)]
    todo += [(f"s{i}", None, s) for i, s in enumerate(specs or [])]
    results: list[ModelResult] = []
    tty = sys.stderr.isatty()
    with tempfile.TemporaryDirectory(prefix="tp-fidelity-", dir=work_dir) as tmp:
        work = Path(tmp)
        pending: list[tuple[ModelResult, Any, bytes]] = []

        def flush() -> None:
            try:
                _run_chunk(pending, work / f"chunk{len(results)}", n_inputs)
            except Exception:  # noqa: BLE001 - the campaign reports, it does not stop
                for r, _, _ in pending:
                    r.outcome, r.detail = "crash", traceback.format_exc(limit=3)[-400:]
            pending.clear()

        for c in _converted(todo, jobs):
            result, aot = _generate(c, work)
            results.append(result)
            if aot is not None and c.model is not None:
                pending.append((result, aot, c.model))
            if len(pending) >= CHUNK:
                flush()
            if progress and (tty or len(results) % 50 == 0):  # a live line, or a line per 50 in a log
                line = f"{len(results)}/{len(todo)} models, {time.monotonic() - start:.0f} s"
                print("\r" + line if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        if pending:
            flush()
    if progress and tty:
        print(file=sys.stderr)
    return summarize(results, seed, time.monotonic() - start)


def refusal_kind(r: ModelResult) -> str:
    """A refusal without its model's names and figures, so that alike refusals count together."""
    why = r.detail.split("aot runtime", 1)[-1].lstrip(": ")
    why = re.sub(r"'[^'\s]*'", "'…'", why)
    return f"{r.refusing or '?'}: " + re.sub(r"(?<=[ (])-?\d[\d.e+-]*", "N", why)


def summarize(results: list[ModelResult], seed: int, seconds: float) -> dict[str, Any]:
    per_op: dict[str, Counter[str]] = defaultdict(Counter)
    per_layer: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        for op in r.ops:
            per_op[op]["models"] += 1
            per_op[op][r.outcome] += 1
        if r.refusing:
            per_op[r.refusing]["refusing"] += 1
        for kind in sorted(set(r.layers)):
            per_layer[kind]["models"] += 1
            per_layer[kind][r.outcome] += 1
    outcomes = Counter(r.outcome for r in results)
    return {
        "seed": seed, "models": len(results), "seconds": round(seconds, 1),
        "outcomes": {o: outcomes.get(o, 0) for o in OUTCOMES},
        "bad": sum(outcomes.get(o, 0) for o in BAD),
        "per_op": {op: dict(c) for op, c in sorted(per_op.items())},
        "per_layer": {k: dict(c) for k, c in sorted(per_layer.items())},
        "refusals": Counter(refusal_kind(r) for r in results if r.outcome == "refused").most_common(),
        "results": [asdict(r) for r in results],
    }


def format_table(summary: dict[str, Any]) -> str:
    cols = ["models", "exact", "refused", "mismatch", "crash", "refusing"]
    lines = [f"| operator | {' | '.join(cols)} |", "|---|" + "---:|" * len(cols)]
    for op, c in summary["per_op"].items():
        lines.append(f"| {op} | " + " | ".join(str(c.get(k, 0)) for k in cols) + " |")
    lcols = ["models", "exact", "refused", "mismatch", "converter-failed", "crash"]
    lines += ["", f"| layer kind | {' | '.join(lcols)} |", "|---|" + "---:|" * len(lcols)]
    for kind, c in summary["per_layer"].items():
        lines.append(f"| {kind} | " + " | ".join(str(c.get(k, 0)) for k in lcols) + " |")
    return "\n".join(lines)


def markdown(summary: dict[str, Any], date: str, command: str) -> str:
    o = summary["outcomes"]
    lines = [f"# Fidelity: random multi-operator models, aot vs LiteRT, {date} (issue 13)", "",
             f"`{command}` (tests/fidelity/run.py, generator tests/fidelity/generate.py): "
             f"{summary['models']} random Keras models (2-6 layers, float scales 1e-3 to 1e3) converted "
             f"full int8 by the TFLite converter, aot-compiled, run on the sanitized host runner "
             f"(ASan/UBSan) and compared bit for bit with LiteRT's built-in kernels on {N_INPUTS} random "
             f"int8 inputs each. Seed {summary['seed']}, {summary['seconds']:.0f} s.", "",
             "Outcomes: " + ", ".join(f"**{k}** {v}" for k, v in o.items()), "",
             "Per operator: every builtin of the converted graph counts the model once; `refusing` = "
             "refusals naming that operator. Per layer kind: the Keras layers the model was built from.", "",
             format_table(summary), ""]
    if summary["refusals"]:
        lines += ["## Refusals", ""] + [f"- {n} x {why}" for why, n in summary["refusals"]] + [""]
    bad = [r for r in summary["results"] if r["outcome"] in BAD]
    if bad:
        lines += ["## Mismatches and crashes", ""]
        lines += [f"- `{r['id']}` {r['outcome']}: {r['detail']} (ops {', '.join(r['ops'])}; layers "
                  f"{', '.join(r['layers'])})" for r in bad] + [""]
    return "\n".join(lines)


def compact(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary for bench/results: specs only of the models that did not run exactly (an exact
    model is rebuilt from its seed and id)."""
    results = [{k: v for k, v in r.items() if k != "spec" or r["outcome"] != "exact"}
               for r in summary["results"]]
    return {**summary, "results": results}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2, help="converter worker processes")
    ap.add_argument("--inputs", type=int, default=N_INPUTS, help="random inputs per model")
    ap.add_argument("--specs", type=Path, help="a JSON list of specs to run too (with --models 0: only them)")
    ap.add_argument("--out", type=Path, help="write fidelity-<date>.json and .md here (e.g. bench/results)")
    ap.add_argument("--save", type=Path, help="write the spec of every mismatch and crash here")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # LiteRT's deprecation notice, once per model
    specs = json.loads(args.specs.read_text()) if args.specs else None
    summary = run_campaign(args.models, args.seed, args.jobs, args.inputs, specs, progress=True)
    date = dt.date.today().isoformat()
    command = f"make fidelity FIDELITY_N={args.models} FIDELITY_SEED={args.seed}"
    md = markdown(summary, date, command)
    if args.out:
        from bench.mlperf_tiny import machine_info, write_results

        result = {"date": date, "machine": machine_info(), **compact(summary)}
        write_results(args.out, f"fidelity-{date}", result, md)
    else:
        print(md)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for r in summary["results"]:
            if r["outcome"] in BAD:
                (args.save / f"{r['id']}.json").write_text(json.dumps(r, indent=1) + "\n")
    return 1 if summary["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
