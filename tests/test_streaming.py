"""Streaming (stateful) models: resource variables with a CALL_ONCE init subgraph, end to end.

The model is the `streaming_kws` recipe's (trained and converted here, ~20 s): a ring buffer of
feature frames in a tf.Variable, int8 in, uint8 out. It is parsed and verified, compiled by aot
(persistent arena buffer, initializer, <prefix>_reset), validated step by step against LiteRT
(which keeps the state across invoke() the same way) on the host, through the serial protocol's
RESET request, and under QEMU; what the aot runtime cannot run is refused in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fuzz import mutate
from tests.host_harness import HostBoard, build_aot
from tinypipe import graph
from tinypipe.aot.codegen import generate
from tinypipe.device.host import HostRunner
from tinypipe.device.protocol import Device
from tinypipe.errors import TinypipeError
from tinypipe.reference import Reference
from tinypipe.validate import load_inputs, validate

STEPS = 24  # frames of the recipe's stream fed as one sequence


@pytest.fixture(scope="module")
def streaming(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tinypipe.recipes.streaming_kws import build

    return build(tmp_path_factory.mktemp("streaming_kws"), seed=0, epochs=4)


def frames(result: Any, n: int = STEPS) -> np.ndarray:
    """The first n frames of the recipe's stream, quantized to the model's int8 input."""
    ref = Reference(result.model)
    return load_inputs(result.stream, ref.input_details)[0][:n]


def changed(model: Path, change: Any) -> bytes:
    m = mutate.unpack(model.read_bytes())
    change(m)
    return mutate.pack(m)


def opcode_index(m: Any, name: str) -> int:
    """The index of builtin `name` among the model's operator codes, added when it is missing."""
    import copy

    from tflite import BuiltinOperator

    code = getattr(BuiltinOperator, name)
    for i, c in enumerate(m.operatorCodes):
        if max(c.builtinCode, c.deprecatedBuiltinCode) == code:
            return i
    added = copy.deepcopy(m.operatorCodes[0])
    added.builtinCode, added.deprecatedBuiltinCode, added.version = code, min(code, 127), 1
    m.operatorCodes.append(added)
    return len(m.operatorCodes) - 1


def while_model() -> bytes:
    """A small int8-in/int8-out model with a WHILE loop (condition and body subgraphs)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
    def halve_thrice(x: Any) -> Any:
        _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 0.5 + 1.0), [tf.constant(0), x])
        return y

    rng = np.random.default_rng(0)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([halve_thrice.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.random((1, 4), np.float32)] for _ in range(20))
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def test_streaming_model_parses_with_its_init_subgraph(streaming: Any) -> None:
    g = graph.load(streaming.model)
    assert g.stateful and len(g.subgraphs) == 1
    assert {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"} <= set(g.opcodes)
    (var,) = graph.resource_variables(g)
    assert var.tensor.dtype == "int8" and var.initial is not None
    assert var.nbytes == var.initial.size  # the init subgraph assigns the whole ring buffer
    assert g.tensor(g.outputs[0]).dtype == "uint8"
    assert graph.variable_count(g) == 1


def test_aot_keeps_state_in_a_persistent_buffer(streaming: Any, tmp_path: Path) -> None:
    model = generate(streaming.model, tmp_path / "gen", name="stream")
    g = graph.load(streaming.model)
    (var,) = graph.resource_variables(g)
    spans = [(p.first, p.last) for p in model.plan.placements if p.tensor in var.handles]
    assert spans and all(s == (-1, len(g.operators)) for s in spans)  # never reused
    c = model.c_file.read_text()
    assert "void tp_stream_reset(void)" in c and "tp_variable_copy(" in c
    assert "TP_STREAM_NUM_VARIABLES 1" in model.files[1].read_text()
    assert model.outputs[0].dtype == "uint8"


def test_host_steps_are_bit_exact_and_carry_state(streaming: Any, tmp_path: Path) -> None:
    x = frames(streaming)
    result = validate(streaming.model, board="host", inputs=streaming.stream, work_dir=tmp_path / "v")
    assert result.stateful and result.ok, result.summary()
    model = generate(streaming.model, tmp_path / "gen", name="stream")
    runner = HostRunner([model], tmp_path / "host")
    (sequence,) = runner.run("stream", [x])
    (again,) = runner.run("stream", [x])  # a new run starts from the initial state
    np.testing.assert_array_equal(sequence, again)
    one_by_one = np.concatenate([runner.run("stream", [x[k:k + 1]])[0] for k in range(4)])
    assert not np.array_equal(one_by_one, sequence[:4]), "the ring buffer did not carry state"
    assert sequence.dtype == np.uint8


def test_protocol_reset_restarts_the_sequence(streaming: Any, tmp_path: Path) -> None:
    x = frames(streaming, 6)
    expected = Reference(streaming.model).run_batch([x])[0].reshape(len(x), -1)
    binary = build_aot(tmp_path, streaming.model, runs=2)
    with HostBoard(binary) as board, Device(board.url, timeout_s=30) as device:
        while device.read_record().kind != "READY":  # the harness reset the state after its benchmark
            pass
        for _ in range(2):  # the second sequence only matches after the RESET request
            got = [device.infer([frame])[0][0] for frame in x]
            np.testing.assert_array_equal(np.stack(got).view(np.uint8), expected)
            device.reset()
        device.bye()
        assert board.wait() == 0


def test_unsupported_state_is_refused_in_one_line(streaming: Any, tmp_path: Path) -> None:
    def init_computes(m: Any) -> None:  # the init subgraph assigns RELU(constant), not the constant
        import copy

        init = m.subgraphs[1]
        assign = init.operators[-1]
        computed = copy.deepcopy(init.tensors[assign.inputs[1]])
        computed.buffer = 0
        init.tensors.append(computed)
        relu = copy.deepcopy(assign)
        relu.opcodeIndex, relu.inputs = opcode_index(m, "RELU"), [assign.inputs[1]]
        relu.outputs = [len(init.tensors) - 1]
        assign.inputs = [assign.inputs[0], len(init.tensors) - 1]
        init.operators.insert(len(init.operators) - 1, relu)

    def missing_subgraph(m: Any) -> None:
        m.subgraphs = m.subgraphs[:1]

    loop = tmp_path / "while.tflite"  # control flow: the verifier accepts it, aot names the operator
    loop.write_bytes(while_model())
    with pytest.raises(TinypipeError) as info:
        generate(loop, tmp_path / "while")
    assert "WHILE #1" in info.value.what and "`--runtime tflm` runs it" in info.value.what, info.value.what
    for name, change, fragments in (("missing", missing_subgraph, ("CALL_ONCE", "init_subgraph_index = 1")),):
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(changed(streaming.model, change))
        with pytest.raises(TinypipeError) as info:
            generate(path, tmp_path / name)
        message = info.value.what + " " + info.value.hint
        assert "\n" not in info.value.what and all(f in message for f in fragments), message
    path = tmp_path / "computes.tflite"
    path.write_bytes(changed(streaming.model, init_computes))
    with pytest.raises(TinypipeError) as info:
        generate(path, tmp_path / "computes")
    assert "init subgraph" in info.value.what and "--runtime tflm" in info.value.hint, info.value.what


@pytest.mark.qemu
def test_streaming_steps_bit_exact_on_qemu_m4(streaming: Any, tmp_path: Path) -> None:
    """Export + PlatformIO build + QEMU: the harness benchmarks (moving the state), resets, and the
    host sends RESET then the frames one INFER at a time; every step matches LiteRT."""
    result = validate(streaming.model, board="qemu-m4", inputs=streaming.stream, work_dir=tmp_path)
    assert result.stateful and result.samples > STEPS
    assert result.bit_exact == result.samples, result.summary()
