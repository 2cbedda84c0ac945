"""The op suite's models (tests/op_models.py configs) converted with 16x8 quantization instead:
int16 activations (zero point 0), int8 weights, int64 biases, int16 model inputs and outputs
(`EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`), and the batched bit-exactness
run of tests/op_suite.py on them (LiteRT against the sanitized host runner).

Configs come from `tests.op_models.sample_configs`; only the converter settings differ, so a
failing config prints everything needed to rebuild its model exactly as the int8 suite does.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from tests import op_models
from tests.op_models import Batch, Branch, Config
from tests.op_suite import CONVERTER_FAILED, FLOAT_OVERSHOOT, Result, _branch_of_op, mismatch
from tinypipe.aot.codegen import AotModel, generate
from tinypipe.device.host import HostRunner
from tinypipe.errors import TinypipeError
from tinypipe.reference import Reference

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


def convert_group(configs: list[Config]) -> bytes | None:
    """`op_models.convert_group` with 16x8 quantization (int16 I/O; float I/O for QUANTIZE)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    inputs, outputs, ranges = [], [], []
    for j, config in enumerate(configs):
        sub = op_models._keras_model(config)
        branch = [keras.Input(shape=t.shape[1:], batch_size=t.shape[0], name=f"b{j}_{k}")
                  for k, t in enumerate(sub.inputs)]
        y = sub(branch if len(branch) > 1 else branch[0])
        inputs += branch
        outputs += list(y) if isinstance(y, list | tuple) else [y]
        ranges += config["ranges"]
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(configs[0]["seed"])

    def representative() -> Any:
        for i in range(6):
            sample = {}
            for t, (lo, hi) in zip(inputs, ranges, strict=True):
                fill = lo if i == 0 else hi if i == 1 else None
                values = np.full(t.shape, fill) if fill is not None else rng.uniform(lo, hi, t.shape)
                sample[t.name] = values.astype(np.float32)
            yield sample

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    float_io, per_tensor = op_models._group_key(configs[0])
    if not float_io:
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
    if per_tensor:
        converter._experimental_disable_per_channel = True
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    try:
        return bytes(converter.convert())
    except Exception:  # noqa: BLE001 - the caller retries the configs one by one
        return None


def _accepted(config: Config, opcodes: list[str]) -> bool:
    """The branch is exactly its op; a 16x8 CONCATENATION may have the converter's int16 -> int16
    QUANTIZE in front of inputs whose scale differs (tested as QUANTIZE int16 -> int16)."""
    if config["op"] == "CONCATENATION":
        return [o for o in opcodes if o != "QUANTIZE"] == ["CONCATENATION"]
    return sorted(opcodes) == sorted(op_models.expected_opcodes(config["op"]))


def split_branches(model: bytes, configs: list[Config]) -> tuple[list[Branch], list[Config]]:
    """`op_models.split_branches` with the 16x8 acceptance rule (`_accepted`)."""
    from tinypipe.graph import parse

    graph = parse(model)
    branch_of_input = {t: int(re.search(r"b(\d+)_\d+", graph.tensor(t).name).group(1))  # type: ignore[union-attr]
                       for t in graph.inputs}
    producer = {t: op for op in graph.operators for t in op.outputs}
    branches = [Branch(c, j) for j, c in enumerate(configs)]
    ops_of: dict[int, set[int]] = {j: set() for j in range(len(configs))}
    for pos, t in enumerate(graph.inputs):
        branches[branch_of_input[t]].inputs.append(pos)
    for pos, t in enumerate(graph.outputs):
        seen, stack, owners = set(), [t], set()
        while stack:
            u = stack.pop()
            if u in branch_of_input:
                owners.add(branch_of_input[u])
            elif u in producer and producer[u].index not in seen:
                seen.add(producer[u].index)
                stack += [i for i in producer[u].inputs if i >= 0]
        assert len(owners) == 1, f"output {pos} depends on branches {owners}"
        j = owners.pop()
        branches[j].outputs.append(pos)
        ops_of[j] |= seen
    rejected = [c for j, c in enumerate(configs)
                if not _accepted(c, [graph.operators[i].opcode for i in ops_of[j]])]
    return [b for b in branches if b.config not in rejected], rejected


def build_batches(configs: list[Config], per_model: int = 30, workers: int = 2
                  ) -> tuple[list[Batch], list[Config]]:
    """`op_models.build_batches` with the 16x8 converter."""
    groups: dict[tuple[bool, bool], list[Config]] = {}
    for c in configs:
        groups.setdefault(op_models._group_key(c), []).append(c)
    todo = [g[i:i + per_model] for g in groups.values() for i in range(0, len(g), per_model)]
    batches: list[Batch] = []
    rejected: list[Config] = []
    context = get_context("spawn")  # TensorFlow is not fork-safe
    with ProcessPoolExecutor(workers, mp_context=context, initializer=op_models._worker_init) as pool:
        for _ in range(8):
            if not todo:
                break
            retry: list[list[Config]] = []
            for group, model in zip(todo, pool.map(convert_group, todo), strict=True):
                if model is None:
                    if len(group) == 1:
                        rejected += group
                    else:
                        retry += [group[:len(group) // 2], group[len(group) // 2:]]
                    continue
                branches, bad = split_branches(model, group)
                rejected += bad
                if bad and branches:
                    retry.append([b.config for b in branches])
                elif branches:
                    batches.append(Batch(model, branches))
            todo = retry
    return batches, rejected + [c for g in todo for c in g]


def batch_inputs(reference: Reference, batch: Batch, n: int, seed: int,
                 every_value: bool = False) -> list[np.ndarray]:
    """n samples per model input: the whole int16 range (both ends included), or floats around the
    branch's calibrated range (QUANTIZE). `every_value`: the first sample of each int16 input holds
    -32768, -32767, ... in order (every int16 value once for an input of 65536 elements)."""
    rng = np.random.default_rng(seed)
    branch = {b.index: b.config for b in batch.branches}
    xs = []
    for detail in reference.input_details:
        j, k = (int(v) for v in re.search(r"b(\d+)_(\d+)", detail["name"]).groups())  # type: ignore[union-attr]
        shape = (n, *detail["shape"])
        if detail["dtype"] == np.int16:
            x = rng.integers(INT16_MIN, INT16_MAX + 1, size=shape, dtype=np.int16)
            x[0], x[-1] = INT16_MIN, INT16_MAX
            if every_value:
                size = int(np.prod(shape[1:]))
                x[0] = (np.arange(size) % 2**16 + INT16_MIN).astype(np.int16).reshape(shape[1:])
        else:
            lo, hi = branch[j]["ranges"][k]
            margin = FLOAT_OVERSHOOT * (hi - lo)
            x = rng.uniform(lo - margin, hi + margin, size=shape).astype(np.float32)
        xs.append(x)
    return xs


def _generate_all(batches: list[Batch], work: Path) -> tuple[list[tuple[Batch, AotModel]], list[Result]]:
    out: list[tuple[Batch, AotModel]] = []
    errors: list[Result] = []
    pending = batches
    for attempt in range(3):
        redo: list[Config] = []
        for batch in pending:
            path = work / f"batch{attempt}_{len(out)}_{len(redo)}.tflite"
            path.write_bytes(batch.model)
            try:
                out.append((batch, generate(path, path.parent / "gen", name=f"s{attempt}_{len(out)}")))
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
        pending, rejected = build_batches(redo)
        errors += [Result(c, CONVERTER_FAILED) for c in rejected]
    return out, errors


def run_suite(configs: list[Config], work: Path, n_inputs: int, seed: int,
              every_value: bool = False) -> dict[str, Result]:
    """`op_suite.run_suite` for 16x8 models: a Result per config id (`every_value`: see batch_inputs)."""
    batches, rejected = build_batches(configs)
    found = {c["id"]: Result(c, CONVERTER_FAILED) for c in rejected}
    generated, errors = _generate_all(batches, work)
    found |= {r.config["id"]: r for r in errors}
    if not generated:
        return found
    runner = HostRunner([m for _, m in generated], work / "host")
    for i, (batch, aot) in enumerate(generated):
        try:
            reference = Reference(batch.model)
            xs = batch_inputs(reference, batch, n_inputs, seed=seed + i, every_value=every_value)
            want = reference.run_batch(xs)
            got = runner.run(aot.name, xs)
        except TinypipeError as exc:
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
