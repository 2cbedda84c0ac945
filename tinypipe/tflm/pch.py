"""PlatformIO extra script of the TensorFlow Lite Micro libraries: a precompiled flatbuffers schema.

Every C++ file of TFLite Micro includes `schema_generated.h`, and parsing it is 4.4 s of the 5 s
a translation unit takes (arm-none-eabi-g++ 12, Cortex-M4). This script precompiles it once per
compiler and flag set and gives it to the library's C++ files with `-include`: a KWS build's 54
C++ files take 60 s instead of 112 s on two cores (bench/tflm_build.py: a whole KWS firmware,
160 instead of 250 CPU seconds). The code is the same; GCC may emit template functions and
assertion strings in another order. GCC uses a precompiled header only when it is valid for the
command's flags (otherwise it parses the header: a foreign one costs time, not correctness); it
does not check the header's sources, so the key below includes the schema's bytes.

The header lives in a folder named by the hash of the compiler and the flags, beside the library
manifests, so every project with the same flags uses the same path, the command lines stay the
same, and PlatformIO's build cache keeps serving TFLite Micro's objects across projects. It runs
inside PlatformIO's SCons with nothing but the standard library (a user's PlatformIO IDE need not
have tinypipe installed). TINYPIPE_TFLM_PCH=0 turns it off (bench/tflm_build.py measures both).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from SCons.Script import Import

try:
    import fcntl
except ImportError:  # Windows: no lock; concurrent builds may both make it (atomic rename)
    fcntl = None  # type: ignore[assignment]

SCHEMA = "tensorflow/lite/schema/schema_generated.h"
KEEP = 8  # precompiled headers kept (one per compiler and flag set; ~250 MB each)


def precompile_schema(env: Any, library_dir: Path, tree: Path) -> None:
    """Build (once) the precompiled schema for `env`'s C++ command and add `-include` for it.
    GCC checks a precompiled header's flags, not its sources: the key holds the schema's bytes."""
    if os.environ.get("TINYPIPE_TFLM_PCH", "1") == "0":
        return
    # The binary the shell runs for $CXX (`pio run -t compiledb` makes $CXX the toolchain package's
    # path, which need not be an executable itself).
    cxx = env.subst("$CXX")
    compiler = shutil.which(os.path.basename(cxx), path=env["ENV"].get("PATH")) or cxx
    # The flags the library's C++ files are compiled with, minus the include paths (per project;
    # the tree's own directories are -isystem flags in CCFLAGS), plus the compiler binary itself.
    command = env.subst("$CXXFLAGS $CCFLAGS $_CPPDEFFLAGS")
    stat = os.stat(compiler)
    schema = hashlib.sha256((tree / SCHEMA).read_bytes()).hexdigest()
    identity = f"{compiler}\0{stat.st_size}\0{stat.st_mtime_ns}\0{command}\0{schema}"
    key = hashlib.sha256(identity.encode()).hexdigest()
    root = library_dir.parent / "pch"
    folder = root / key[:16]
    header, pch = folder / "tflm_schema.h", folder / "tflm_schema.h.gch"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent builds with the same flags make it once
        if not pch.is_file():
            header.write_text(f'#include "{SCHEMA}"\n')
            partial = folder / f"tflm_schema.h.gch.{os.getpid()}"
            build = f"{compiler} -x c++-header {command} -c {header} -o {partial}"
            print(f"tinypipe: precompiling {SCHEMA} for TFLite Micro's C++ files (once per flag set)")
            proc = subprocess.run(build, shell=True, env=env["ENV"], capture_output=True, text=True)
            if proc.returncode != 0:
                partial.unlink(missing_ok=True)
                print(f"tinypipe: no precompiled schema, each file parses it:\n{proc.stderr[-2000:]}")
                return
            partial.replace(pch)
        os.utime(pch)
    env.Append(CXXFLAGS=["-include", str(header)])
    _prune(root)


def _prune(root: Path) -> None:
    """Keep the KEEP most recently used precompiled headers."""
    used = sorted(root.glob("*/tflm_schema.h.gch"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in used[KEEP:]:
        shutil.rmtree(old.parent, ignore_errors=True)


Import("env", "pio_lib_builder")
precompile_schema(env, Path(pio_lib_builder.path), Path(pio_lib_builder.src_dir))  # noqa: F821 (from Import)
