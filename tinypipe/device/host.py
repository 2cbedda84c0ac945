"""Compile generated models + the kernel library into one sanitized host binary and run batches.

    runner = HostRunner([generate(p, work / "gen", name="kws")], work / "host")
    outputs = runner.run("kws", [x])   # x: (N, *input shape); one process for all N samples

Used by `tinypipe validate --board host` and by the tests (many models in one binary).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
import numpy as np

from tinypipe import RUNTIME_DIR, TEMPLATES_DIR
from tinypipe.aot.codegen import AotModel
from tinypipe.errors import TinypipeError

CC = "gcc"
CFLAGS = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
RUN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1"}


def kernel_sources() -> list[Path]:
    return sorted((RUNTIME_DIR / "kernels").glob("*.c"))


def _compile(src: Path, obj: Path, flags: list[str]) -> None:
    cmd = [CC, *flags, "-I", str(RUNTIME_DIR), "-I", str(src.parent), "-c", str(src), "-o", str(obj)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise TinypipeError(f"host compile of {src.name} failed:\n{proc.stderr.strip()}",
                            "this is a tinypipe bug if the file was generated; please report it")


class HostRunner:
    """One host executable containing every given model (distinct names) and all kernels."""

    def __init__(self, models: Sequence[AotModel], work_dir: str | Path, sanitize: bool = True,
                 extra_cflags: Sequence[str] = ()) -> None:
        self.models = {m.name: m for m in models}
        if len(self.models) != len(models):
            raise TinypipeError("HostRunner: two models share a name", "generate each with a distinct name=")
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        includes = [f"-I{d}" for d in sorted({str(m.c_file.parent) for m in models})]
        flags = [*CFLAGS, *(SANITIZE if sanitize else []), *extra_cflags]
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "aot"), trim_blocks=True,
                                 lstrip_blocks=True, keep_trailing_newline=True)
        driver = self.work_dir / "host_driver.c"
        driver.write_text(env.get_template("host_driver.c.j2").render(models=sorted(self.models)))
        sources = [*kernel_sources(), *(m.c_file for m in models), driver]
        objects = [self.work_dir / f"{i:03d}_{s.stem}.o" for i, s in enumerate(sources)]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda so: _compile(*so, [*flags, *includes]), zip(sources, objects, strict=True)))
        self.binary = self.work_dir / "host_driver"
        link = subprocess.run([CC, *flags, *map(str, objects), "-lm", "-o", str(self.binary)],
                              capture_output=True, text=True)
        if link.returncode:
            raise TinypipeError(f"host link failed:\n{link.stderr.strip()}", "this is a tinypipe bug")

    def run(self, model: str, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """inputs[i] has shape (N, *shape of input i); returns outputs as (N, *shape of output j)."""
        m = self.models[model]
        n, packed = pack_inputs(model, m, inputs)
        in_file, out_file = self.work_dir / f"{model}.in", self.work_dir / f"{model}.out"
        in_file.write_bytes(packed)
        proc = subprocess.run([str(self.binary), model, str(in_file), str(out_file), str(n)],
                              capture_output=True, text=True, env={**os.environ, **RUN_ENV}, timeout=3600)
        if proc.returncode:
            report = proc.stderr.strip().splitlines()
            raise TinypipeError(f"host run of '{model}' failed (exit {proc.returncode}):\n"
                                + "\n".join(report[:40]), "a sanitizer report above means a runtime bug")
        return unpack_outputs(model, m, out_file.read_bytes(), n, "host run")


def pack_inputs(name: str, m: AotModel, inputs: Sequence[np.ndarray]) -> tuple[int, bytes]:
    """N samples of every input as one byte string, sample by sample (what the drivers read)."""
    if len(inputs) != len(m.inputs):
        raise TinypipeError(f"model '{name}' takes {len(m.inputs)} inputs, got {len(inputs)}")
    n = len(inputs[0])
    per_sample = [np.ascontiguousarray(np.asarray(x).astype(io.numpy_dtype, copy=False)).reshape(n, -1)
                  for x, io in zip(inputs, m.inputs, strict=True)]
    for x, io in zip(per_sample, m.inputs, strict=True):
        if x.nbytes != n * io.nbytes:
            raise TinypipeError(f"input '{io.name}' of '{name}' must be {io.shape} per sample")
    return n, np.concatenate([x.view(np.uint8) for x in per_sample], axis=1).tobytes()


def unpack_outputs(name: str, m: AotModel, data: bytes, n: int, what: str) -> list[np.ndarray]:
    """The drivers' output bytes (N samples, outputs in order) as (N, *shape) arrays."""
    raw = np.frombuffer(data, np.uint8)
    per_sample = sum(io.nbytes for io in m.outputs)
    if raw.size != n * per_sample:
        raise TinypipeError(f"{what} of '{name}' wrote {raw.size} bytes, expected {n * per_sample}")
    raw = raw.reshape(n, -1)
    outs, col = [], 0
    for io in m.outputs:
        chunk = np.ascontiguousarray(raw[:, col:col + io.nbytes])
        outs.append(chunk.view(io.numpy_dtype).reshape(n, *io.shape))
        col += io.nbytes
    return outs
