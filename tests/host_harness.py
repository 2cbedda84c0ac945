"""Build the firmware harness for the host and run it as a "board" on a loopback TCP port.

The harness sources are the real ones (firmware_templates/common + the runtime glue), linked
with tests/host/host_hal.c, whose serial port is a TCP socket like QEMU's. Tests talk to it
with pyserial's socket:// URL, exactly as they would to an emulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tinypipe import TEMPLATES_DIR
from tinypipe.export import (
    COMMON_HEADERS,
    COMMON_SOURCES,
    PROFILE_FLAGS,
    HarnessConfig,
    render_config,
    write_sources,
)

HOST_DIR = Path(__file__).resolve().parent / "host"
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-D_POSIX_C_SOURCE=200809L"]
START_TIMEOUT_S = 30


def _compile(work: Path, sources: list[Path], profile: bool, cflags: Sequence[str] = ()) -> Path:
    binary = work / "harness"
    flags = [*CFLAGS, *(PROFILE_FLAGS if profile else ()), *cflags]
    cmd = ["gcc", *flags, f"-I{work / 'include'}", *map(str, sources), str(HOST_DIR / "host_hal.c"),
           "-lm", "-o", str(binary)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"host harness build failed:\n{' '.join(cmd)}\n{result.stderr}"
    return binary


def build_stub(work: Path, runs: int = 3, idle_ms: int = 5000, profile: bool = True,
               cflags: Sequence[str] = ()) -> Path:
    """The harness with tests/host/stub_glue.c (two inputs, one output, two layers); `cflags`
    e.g. ["-DTP_QEMU"] builds the protocol as it is for an emulator."""
    include = work / "include"
    include.mkdir(parents=True, exist_ok=True)
    for name in COMMON_HEADERS:
        shutil.copyfile(TEMPLATES_DIR / "common" / name, include / name)
    cfg = HarnessConfig(board="host", runtime="stub", model_file="stub", model_id="00000000", layers=2,
                        runs=runs, serve_idle_ms=idle_ms)
    (include / "tp_config.h").write_text(render_config(cfg))
    sources = [TEMPLATES_DIR / "common" / n for n in (*COMMON_SOURCES, "main.c")] + [HOST_DIR / "stub_glue.c"]
    return _compile(work, sources, profile, cflags)


def build_aot(work: Path, model: Path, runs: int = 3, idle_ms: int = 10000, profile: bool = True) -> Path:
    """The harness with the aot runtime for `model`, as `tinypipe export` writes it."""
    from tinypipe import graph

    g = graph.load(model)
    cfg = HarnessConfig(board="host", runtime="aot", model_file=model.name, model_id=g.sha256[:8],
                        layers=len(g.operators), runs=runs, serve_idle_ms=idle_ms)
    write_sources(model, "aot", cfg, work)
    src = work / "src"
    sources = sorted(src.glob("*.c")) + sorted((src / "kernels").glob("*.c"))
    sources.append(TEMPLATES_DIR / "common" / "main.c")
    return _compile(work, sources, profile)


class HostBoard:
    """A running host harness: `url` is its serial port; killed on exit."""

    def __init__(self, binary: Path, noise: bool = False) -> None:
        env = dict(os.environ)
        if noise:
            env["TP_HOST_NOISE"] = "1"
        self.proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "PORT n", printed before it waits for a connection
        assert line.startswith("PORT "), f"host harness did not start: {line!r}"
        self.url = f"socket://127.0.0.1:{int(line.split()[1])}"

    def wait(self) -> int:
        return self.proc.wait(timeout=START_TIMEOUT_S)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> HostBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
