"""The batched bit-exactness run shared by the op suites (tests/test_ops.py, tests/test_ops_more.py).

Random configs (tests/op_models.py) are converted in batches (one converter call per ~30 configs,
each config an independent branch of one model), every batch is aot-compiled into ONE sanitized
host binary, and random inputs (every int8 value, both ends included) go through it and through
LiteRT; each config gets a Result naming what, if anything, differed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.op_models import Batch, Config, build_batches, describe
from tinypipe.aot.codegen import AotModel, generate
from tinypipe.device.host import HostRunner
from tinypipe.errors import TinypipeError
from tinypipe.graph import parse
from tinypipe.reference import Reference

FLOAT_OVERSHOOT = 0.25  # float inputs (QUANTIZE) reach this far past the calibrated range, to saturate
CONVERTER_FAILED = "the converter failed or rewrote it"


@dataclass
class Result:
    config: Config
    error: str = ""  # "" = bit exact on every input; else why not (conversion, generation, mismatch)


def _branch_of_op(model: bytes, op_index: int) -> int:
    """The branch (b<j> of its input names) an operator of a batched model belongs to."""
    graph = parse(model)
    producer = {t: op for op in graph.operators for t in op.outputs}
    stack, seen = list(graph.operators[op_index].inputs), set()
    while stack:
        t = stack.pop()
        if t in graph.inputs:
            return int(re.search(r"b(\d+)_\d+", graph.tensor(t).name).group(1))  # type: ignore[union-attr]
        if t in producer and producer[t].index not in seen:
            seen.add(producer[t].index)
            stack += [i for i in producer[t].inputs if i >= 0]
    return -1


BuildFn = Callable[[list[Config]], tuple[list[Batch], list[Config]]]  # build_batches' shape
InputsFn = Callable[[Reference, Batch, int, int], list[np.ndarray]]  # batch_inputs' shape


def _generate_all(batches: list[Batch], work: Path, build: BuildFn = build_batches
                  ) -> tuple[list[tuple[Batch, AotModel]], list[Result]]:
    """aot-compile every batch; a branch the generator refuses is reported against its config and
    its batch's other configs are converted again without it (by `build`)."""
    out: list[tuple[Batch, AotModel]] = []
    errors: list[Result] = []
    pending = batches
    for attempt in range(3):
        redo: list[Config] = []
        for batch in pending:
            path = work / f"batch{attempt}_{len(out)}_{len(redo)}.tflite"
            path.write_bytes(batch.model)
            try:
                out.append((batch, generate(path, path.parent / "gen", name=f"b{attempt}_{len(out)}")))
            except TinypipeError as exc:
                found = re.search(r" #(\d+) ", str(exc))
                owner = _branch_of_op(batch.model, int(found.group(1))) if found else -1
                for b in batch.branches:
                    if b.index == owner or owner < 0:
                        errors.append(Result(b.config, f"aot generation failed: {exc}"))
                    else:
                        redo.append(b.config)
        if not redo:
            break
        pending, rejected = build(redo)
        errors += [Result(c, CONVERTER_FAILED) for c in rejected]
    return out, errors


def batch_inputs(reference: Reference, batch: Batch, n: int, seed: int) -> list[np.ndarray]:
    """n samples per model input (named b<branch>_<k>): the whole int8 range (both ends included),
    or floats around the branch's calibrated range. A DIV divisor never equals its zero point
    (LiteRT divides by zero there, with undefined results)."""
    rng = np.random.default_rng(seed)
    branch = {b.index: b.config for b in batch.branches}
    xs = []
    for detail in reference.input_details:
        j, k = (int(v) for v in re.search(r"b(\d+)_(\d+)", detail["name"]).groups())  # type: ignore[union-attr]
        shape = (n, *detail["shape"])
        if detail["dtype"] == np.int8:
            x = rng.integers(-128, 128, size=shape, dtype=np.int8)
            x[0], x[-1] = -128, 127
            if branch[j]["op"] == "DIV" and k == 1:
                zero = detail["quantization"][1]
                x[x == zero] = zero - 1 if zero > -128 else zero + 1
        else:
            lo, hi = branch[j]["ranges"][k]
            margin = FLOAT_OVERSHOOT * (hi - lo)
            x = rng.uniform(lo - margin, hi + margin, size=shape).astype(np.float32)
        xs.append(x)
    return xs


def mismatch(got: np.ndarray, want: np.ndarray) -> str:
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64)).reshape(len(got), -1)
    bad = np.nonzero(diff.max(axis=1) > 0)[0]
    k = int(bad[0])
    elem = int(np.argmax(diff[k] > 0))
    return (f"{len(bad)}/{len(got)} inputs differ; first is input #{k}, element {elem}: aot "
            f"{got[k].reshape(-1)[elem]} vs LiteRT {want[k].reshape(-1)[elem]}, max |diff| {diff.max():g}")


def run_suite(configs: list[Config], work: Path, n_inputs: int, seed: int, build: BuildFn = build_batches,
              inputs: InputsFn | None = None) -> dict[str, Result]:
    """Convert `configs` in batches (`build`), aot-compile every batch into ONE sanitized host
    binary, run `n_inputs` random inputs (`inputs`, default batch_inputs) through it and LiteRT:
    a Result per config id (same shape, same type, same bytes)."""
    make_inputs = inputs or batch_inputs
    batches, rejected = build(configs)
    found = {c["id"]: Result(c, CONVERTER_FAILED) for c in rejected}
    generated, errors = _generate_all(batches, work, build)
    found |= {r.config["id"]: r for r in errors}
    if not generated:
        return found
    runner = HostRunner([m for _, m in generated], work / "host")
    for i, (batch, aot) in enumerate(generated):
        try:
            reference = Reference(batch.model)
            xs = make_inputs(reference, batch, n_inputs, seed + i)
            want = reference.run_batch(xs)
            got = runner.run(aot.name, xs)
        except TinypipeError as exc:  # reported against every config of the batch, not as a crash
            found |= {b.config["id"]: Result(b.config, f"batch run failed: {exc}") for b in batch.branches}
            continue
        for b in batch.branches:
            result = Result(b.config)
            for pos in b.outputs:
                if got[pos].shape != want[pos].shape or got[pos].dtype != want[pos].dtype:
                    result.error = (f"output {got[pos].dtype}{got[pos].shape} != "
                                    f"{want[pos].dtype}{want[pos].shape}")
                elif not np.array_equal(got[pos], want[pos]):
                    result.error = mismatch(got[pos], want[pos])
                if result.error:
                    break
            found[b.config["id"]] = result
    return found


def report(results: list[Result]) -> str:
    return "\n".join(f"{describe(r.config)}\n  {r.error}" for r in results if r.error)


# Refusals the generator documents: configurations where LiteRT's own arithmetic is undefined C++
# (e.g. SUB with an output scale 2^20 times finer than its inputs' shifts by a negative amount;
# LiteRT's vectorized loop and its scalar tail then disagree). They are reported, not compared.
DOCUMENTED_REFUSALS = ("which is undefined there",)


def refused(r: Result) -> bool:
    return r.error.startswith("aot generation failed") and any(t in r.error for t in DOCUMENTED_REFUSALS)
