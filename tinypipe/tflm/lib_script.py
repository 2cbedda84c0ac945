"""PlatformIO extra script of the TensorFlow Lite Micro libraries: one core, one set of objects.

It runs inside PlatformIO's SCons with nothing but the standard library (a user's PlatformIO IDE
need not have tinypipe installed), for each of the two TFLite Micro libraries, and does three things
(and moves SCons's signature database out of the shared build cache: own_signature_database).

1. **The library is compiled with the core's flags and TFLite Micro's, not the board's.** The
   framework's defines (STM32L4R5xx, USE_HAL_DRIVER, F_CPU, PlatformIO's version...), its include
   paths and warning options are none of TFLite Micro's business; they are dropped, and the
   remaining code-generation flags are put in one order. A NUCLEO-L4R5ZI build and a qemu-m4 build
   (both Cortex-M4F, -O2) then run the same compiler commands into the same object paths
   (.pio/build/tflm-<flag set>/, not the board's folder: SCons's cache key holds the object's
   path; `pio run -t clean` leaves that folder), and PlatformIO's build cache serves the second
   from the first. The defines of the project's own build_flags stay (tinypipe's
   TF_LITE_STATIC_MEMORY..., and whatever a user adds there, such as KERNELS_OPTIMIZED_FOR_SIZE);
   a board's own defines come from its tp_machine_flags.py instead (tinypipe.build.board_defines).
2. **One build per flag set at a time.** A second build with the same flags (another board with
   the same core, or a parallel test) waits for the first and takes its objects from the cache
   instead of compiling the same ~110 files beside it. The lock is the process's and ends with it.
3. **A precompiled flatbuffers schema.** Most C++ files of TFLite Micro include
   `schema_generated.h`, and parsing it is 4.4 s of the 5 s such a translation unit takes
   (arm-none-eabi-g++ 12, Cortex-M4). It is precompiled once per compiler and flag set and given
   with `-include` to the library's C++ files that include it (loading it costs 2.5 s, and a file
   without it, such as runtime_shape.cc, compiles in 0.1 s). The code is the same; GCC may emit
   template functions and assertion strings in another order. GCC uses a precompiled header
   only when it is valid for the command's flags (a foreign one costs time, not correctness); it
   does not check the header's sources, so the key includes the schema's bytes. The header lives
   in a folder named by that key beside the library manifests, so the command lines, and the
   build cache, stay shared. TINYPIPE_TFLM_PCH=0 turns it off (bench/tflm_build.py measures both).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from SCons.Script import DefaultEnvironment, Import

try:
    import fcntl
except ImportError:  # Windows: no lock; concurrent builds may both make it (atomic rename)
    fcntl = None  # type: ignore[assignment]

SCHEMA = "tensorflow/lite/schema/schema_generated.h"
KEEP = 8  # precompiled headers kept (one per compiler and flag set; ~250 MB each)
# TFLite Micro's own C++ flags (its Makefile's), whatever the framework's are.
TFLM_CXXFLAGS = ("-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-fno-use-cxa-atexit")
# Options that do not change the code: warnings (the manifest passes -w), and linker-only ones.
IGNORED = ("-W", "-nostdlib", "-nostartfiles")
_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
_held_locks: list[int] = []  # file descriptors kept open for the life of the build


def own_signature_database() -> None:
    """SCons's signature database in the project's build folder. With a build cache, PlatformIO
    keeps it in the cache's folder: one file for every project, which concurrent builds race to
    rewrite (FileNotFoundError: .sconsign311.tmp -> .sconsign311.dblite, seen with two tflm
    builds at once). The cache itself needs no database: its entries are named by signature."""
    project = DefaultEnvironment()
    version = f"{sys.version_info[0]}{sys.version_info[1]}"
    project.SConsignFile(os.path.join(project.subst("$BUILD_DIR"), f".sconsign{version}"))


def canonical_flags(env: Any) -> None:
    """Reduce the library's flags to the core's code generation and TFLite Micro's own."""
    own = env.ParseFlags(env.get("BUILD_FLAGS", []))  # the project's build_flags
    env.Replace(CPPDEFINES=own.get("CPPDEFINES", []), CPPPATH=[])
    env.Replace(CCFLAGS=_normalize(env.get("CCFLAGS", [])), CFLAGS=_normalize(env.get("CFLAGS", [])),
                CXXFLAGS=_normalize([*env.get("CXXFLAGS", []), *TFLM_CXXFLAGS]))


def _normalize(flags: list[Any]) -> list[Any]:
    """One order for a flag list: for each option the last setting wins (as in GCC: -g3 ... -g0,
    -fexceptions ... -fno-exceptions), sorted; options with an argument (-isystem DIR) keep theirs
    and their order."""
    last: dict[str, str] = {}
    pairs: list[tuple[str, ...]] = []
    for flag in flags:
        if not isinstance(flag, str):
            if tuple(flag) not in pairs:
                pairs.append(tuple(flag))
        elif not flag.startswith(IGNORED):
            name = flag.split("=")[0]
            name = "-g" if name.startswith("-g") else "-O" if name.startswith("-O") else name
            last[name.replace("-fno-", "-f")] = flag
    return [*sorted(last.values()), *pairs]


def serialize_builds(folder: Path) -> None:
    """Wait for any other build with this flag set to finish; hold the lock until this one ends.
    POSIX record locks belong to the process, so the second library of the same build (the same
    flags) takes it at once; the descriptor stays open, since closing one would release it."""
    if fcntl is None:
        return
    fd = os.open(folder / ".build-lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    _held_locks.append(fd)


def flag_set_folder(env: Any, library_dir: Path, tree: Path) -> tuple[Path, str, str]:
    """The folder of this compiler and flag set (its lock, its precompiled header), the compiler,
    and the flags. GCC checks a precompiled header's flags, not its sources: the key holds the
    schema's bytes."""
    # The binary the shell runs for $CXX (`pio run -t compiledb` makes $CXX the toolchain package's
    # path, which need not be an executable itself).
    cxx = env.subst("$CXX")
    compiler = os.path.realpath(shutil.which(os.path.basename(cxx), path=env["ENV"].get("PATH")) or cxx)
    # The flags the library's C++ files are compiled with, minus the include paths (per project;
    # the tree's own directories are -isystem flags in CCFLAGS), plus the compiler binary itself.
    command = env.subst("$CXXFLAGS $CCFLAGS $_CPPDEFFLAGS")
    stat = os.stat(compiler)
    schema = hashlib.sha256((tree / SCHEMA).read_bytes()).hexdigest()
    identity = f"{compiler}\0{stat.st_size}\0{stat.st_mtime_ns}\0{command}\0{schema}"
    key = hashlib.sha256(identity.encode()).hexdigest()
    folder = library_dir.parent / "pch" / key[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return folder, compiler, command


def precompile_schema(env: Any, folder: Path, compiler: str, command: str, tree: Path) -> None:
    """Build (once) the precompiled schema for `env`'s C++ command and add `-include` for it to
    the C++ files that read the schema."""
    if os.environ.get("TINYPIPE_TFLM_PCH", "1") == "0":
        return
    header, pch = folder / "tflm_schema.h", folder / "tflm_schema.h.gch"
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
    flags = [*env["CXXFLAGS"], "-include", str(header)]
    reads_schema = _schema_readers(tree)

    def with_schema(env: Any, node: Any) -> Any:  # PlatformIO calls it for each C++ source
        if not reads_schema(Path(node.srcnode().get_abspath())):
            return node  # loading the 250 MB header costs 2.5 s; such a file compiles in 0.1 s
        return env.Object(node, CXXFLAGS=flags)

    env.AddBuildMiddleware(with_schema, "*.cc")
    _prune(folder.parent)


def _schema_readers(tree: Path) -> Any:
    """path -> whether the file includes the schema, directly or through the tree's headers (every
    #include counted, conditional or not: a file wrongly counted pays the header's load, one
    wrongly left out parses the schema itself; neither changes the code)."""
    known: dict[Path, bool] = {}

    def reads(path: Path) -> bool:
        if path not in known:
            known[path] = False  # include cycles end here
            names = _INCLUDE.findall(path.read_text(encoding="utf-8", errors="replace"))
            known[path] = any(Path(name).name == Path(SCHEMA).name or any(
                reads(candidate) for candidate in (path.parent / name, tree / name) if candidate.is_file())
                for name in names)
        return known[path]

    return reads


def _prune(root: Path) -> None:
    """Keep the KEEP most recently used precompiled headers."""
    used = sorted(root.glob("*/tflm_schema.h.gch"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in used[KEEP:]:
        shutil.rmtree(old.parent, ignore_errors=True)


Import("env", "pio_lib_builder")
own_signature_database()
canonical_flags(env)  # noqa: F821 (env and pio_lib_builder come from Import)
flag_set, cxx, cxx_flags = flag_set_folder(env, Path(pio_lib_builder.path), Path(pio_lib_builder.src_dir))  # noqa: F821
serialize_builds(flag_set)
# Objects under a folder named by the flag set, not the board's: the object's path is part of the
# build cache's key, so boards with the same flags share it.
env.Replace(BUILD_DIR=os.path.join(env.subst("$PROJECT_BUILD_DIR"), f"tflm-{flag_set.name}"))  # noqa: F821
precompile_schema(env, flag_set, cxx, cxx_flags, Path(pio_lib_builder.src_dir))  # noqa: F821
