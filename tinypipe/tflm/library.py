"""TensorFlow Lite Micro as a PlatformIO library written into the firmware project.

`plan_library()` decides what to compile from the tree itself: for each operator of the model
the kernel file that defines the registration its MicroMutableOpResolver method uses (read from
`micro_mutable_op_resolver.h`), in its CMSIS-NN version when the core has DSP or MVE instructions
and CMSIS-NN has one; the CMSIS-NN C files defining the functions those kernels call; and the
framework sources whose headers the glue and the kernels include (so no recording allocator,
and no LSTM helpers for a model without LSTM). Nothing else is compiled: for KWS with CMSIS-NN
111 files instead of 171.

`write_library()` writes the library manifests pointing at the tree (nothing is copied) into a
shared folder (so that PlatformIO's build cache serves every project after the first) and
returns the [env] options that give the TFLM flags to *every* translation unit: the library's
and the project's own sources. That matters: `-DTF_LITE_STATIC_MEMORY` changes the layout of
`TfLiteTensor`, and a glue file compiled without it reads `tensor->data` from the wrong field.
The tree's include directories are `-isystem`, so TFLM's headers (which fail `-Wextra -Werror`)
do not fail tinypipe's strict build of its own sources. The manifests' extra script
(lib_script.py) compiles the library with the core's flags and TFLM's only, so boards with the same
core share its objects, and precompiles the flatbuffers schema every C++ file includes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tinypipe.boards import Board
from tinypipe.errors import TinypipeError
from tinypipe.tflm.tree import CMSIS_NN_COMMIT, TFLM_COMMIT

LIBRARY_NAME = "tflite-micro"
LIB_SCRIPT = Path(__file__).with_name("lib_script.py")
MICRO = "tensorflow/lite/micro"
KERNELS = f"{MICRO}/kernels"
# Defines every TFLM translation unit needs (the tree's README), and the CMSIS-NN ones.
COMMON_DEFINES = ("TF_LITE_STATIC_MEMORY", "TF_LITE_DISABLE_X86_NEON", "TF_LITE_STRIP_ERROR_STRINGS")
CMSIS_NN_DEFINES = ("CMSIS_NN", "ARM_NN_ENABLE_F16=0", "ARM_NN_ENABLE_F32=0")
INCLUDE_DIRS = (".", "third_party/flatbuffers/include", "third_party/gemmlowp", "third_party/ruy")
CMSIS_NN_INCLUDE_DIRS = ("third_party/cmsis_nn", "third_party/cmsis_nn/Include")
# Framework sources outside micro/kernels (the interpreter, allocator, flatbuffer parsing).
FRAMEWORK_GLOBS = (f"{MICRO}/*.cc", f"{MICRO}/arena_allocator/*.cc", f"{MICRO}/memory_planner/*.cc",
                   f"{MICRO}/tflite_bridge/*.cc", f"{MICRO}/cortex_m_generic/debug_log.cc",
                   "tensorflow/lite/core/**/*.cc", "tensorflow/lite/kernels/**/*.cc",
                   "tensorflow/compiler/mlir/lite/**/*.cc")
KERNEL_SETS = ("cmsis-nn", "reference")
# What the firmware's glue (tp_glue_tflm.cpp.j2) includes: with the kernels, the roots of the framework
# sources a build needs.
GLUE_HEADERS = (f"{MICRO}/micro_interpreter.h", f"{MICRO}/micro_allocator.h",
                f"{MICRO}/micro_resource_variable.h", f"{MICRO}/micro_mutable_op_resolver.h")
# Flash for TFLite Micro's interpreter and kernels, on top of the board's reserve for the harness:
# an allowance for the fit check before the build (measured: 72 KB for KWS with CMSIS-NN on a
# Cortex-M4 including the harness; the linker's figure is what the report shows).
CODE_BYTES_ALLOWANCE = 64 * 1024

_METHOD = re.compile(r"TfLiteStatus (Add\w+)\(\s*const TFLMRegistration& registration\s*=\s*"
                     r"(?:[\w:]*::)?(Register_\w+)\(\)\)\s*\{\s*return AddBuiltin\(BuiltinOperator_(\w+),")
# methods without a registration parameter: `AddX() { return AddBuiltin(BuiltinOperator_X, Register_X(), ...`
_FIXED_METHOD = re.compile(r"TfLiteStatus (Add\w+)\(\)\s*\{\s*return AddBuiltin\(BuiltinOperator_(\w+),\s*"
                           r"(?:[\w:]*::)?(Register_\w+)\(\)")
_REGISTRATION = re.compile(r"TFLMRegistration\s+(Register_\w+)\s*\(\s*\)\s*\{")
_CUSTOM_OP = re.compile(r"TFLMRegistration\*\s*Register_\w+\s*\(")
_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
_DECLARATION = re.compile(r"^TFLMRegistration\s+(Register_\w+_INT8)\s*\(\s*\)\s*;", re.M)


@dataclass(frozen=True)
class Resolver:
    """What the tree's MicroMutableOpResolver offers: builtin -> (Add method, registration)."""

    methods: dict[str, tuple[str, str]]
    kernel_files: dict[str, list[str]]  # registration -> files defining it (reference, cmsis_nn)
    int8_headers: dict[str, str]  # Register_X_INT8 -> the kernels/*.h declaring it


@cache
def resolver(tree: Path) -> Resolver:
    header = (tree / MICRO / "micro_mutable_op_resolver.h").read_text(encoding="utf-8")
    methods = {op: (method, reg) for method, reg, op in _METHOD.findall(header)}
    methods |= {op: (method, reg) for method, op, reg in _FIXED_METHOD.findall(header) if op not in methods}
    files: dict[str, list[str]] = {}
    for path in sorted((tree / KERNELS).rglob("*.cc")):
        for reg in set(_REGISTRATION.findall(path.read_text(encoding="utf-8", errors="replace"))):
            files.setdefault(reg, []).append(path.relative_to(tree).as_posix())
    int8 = {reg: path.relative_to(tree).as_posix() for path in sorted((tree / KERNELS).glob("*.h"))
            for reg in _DECLARATION.findall(path.read_text(encoding="utf-8", errors="replace"))}
    return Resolver(methods, files, int8)


def supported_ops(tree: Path) -> set[str]:
    """The builtin operators this tree's resolver can register."""
    r = resolver(tree)
    return {op for op, (_, reg) in r.methods.items() if reg in r.kernel_files}


def kernel_set(board: Board) -> str:
    """CMSIS-NN where the core has DSP or MVE instructions, the reference kernels elsewhere."""
    return "cmsis-nn" if board.dsp or board.mve else "reference"


@dataclass
class TflmLibrary:
    """One TFLM build: the tree, the kernel set, and exactly what gets compiled."""

    tree: Path
    kernels: str  # cmsis-nn | reference
    ops: list[str]  # builtin operators, in the order they are registered
    resolver_calls: list[str]  # MicroMutableOpResolver calls, e.g. AddConv2D(tflite::Register_CONV_2D_INT8())
    headers: list[str]  # what the calls need beyond micro_mutable_op_resolver.h
    sources: list[str] = field(default_factory=list)  # relative to the tree
    kernel_sources: list[str] = field(default_factory=list)  # the operators' own kernel files
    defines: list[str] = field(default_factory=list)
    include_dirs: list[str] = field(default_factory=list)  # relative to the tree

    @property
    def version(self) -> str:
        return f"0.0.0+{TFLM_COMMIT[:7]}" + (f".cmsis-nn.{CMSIS_NN_COMMIT[:7]}" if self.kernels == "cmsis-nn"
                                             else "")

    def flags(self) -> list[str]:
        """The compiler flags for every translation unit that includes a TFLM header."""
        return [*(f"-D{d}" for d in self.defines), *(f"-isystem {self.tree / d}" for d in self.include_dirs)]


def _glob(tree: Path, patterns: tuple[str, ...]) -> list[str]:
    found = {p.relative_to(tree).as_posix() for pattern in patterns for p in tree.glob(pattern)}
    return sorted(f for f in found if not f.endswith("_test.cc"))


def plan_library(tree: Path, opcodes: list[str], kernels: str,
                 int8_only: frozenset[str] | set[str] = frozenset()) -> TflmLibrary:
    """The sources and flags for a TFLM build running `opcodes` with `kernels`; a TinypipeError for
    an operator this tree cannot register. Operators in `int8_only` (every instance has int8
    activations and weights) register their int8-only kernel where TFLM has one
    (Register_CONV_2D_INT8...), so the int4/int16 code paths are not linked."""
    if kernels not in KERNEL_SETS:
        raise TinypipeError(f"unknown TFLite Micro kernel set {kernels!r}",
                            f"use one of {', '.join(KERNEL_SETS)}")
    r = resolver(tree)
    calls, headers, op_files = [], set(), set()
    for op in opcodes:
        if op not in r.methods or r.methods[op][1] not in r.kernel_files:
            raise TinypipeError(
                f"operator {op} has no TensorFlow Lite Micro kernel in {tree} (commit {TFLM_COMMIT[:7]})",
                "use --runtime aot if it supports the operator (tinypipe inspect lists both), "
                "or rebuild the model with builtin operators TFLite Micro has")
        method, reg = r.methods[op]
        int8_reg = f"{reg}_INT8"
        if op in int8_only and int8_reg in r.int8_headers:
            calls.append(f"{method}(tflite::{int8_reg}())")
            headers.add(r.int8_headers[int8_reg])
        else:
            calls.append(f"{method}()")
        candidates = r.kernel_files[reg]
        optimized = [f for f in candidates if "/cmsis_nn/" in f]
        reference = [f for f in candidates if "/cmsis_nn/" not in f]
        op_files.update(optimized if kernels == "cmsis-nn" and optimized else reference)
    # Kernel helpers: a stem's own helpers (conv_common.cc for conv.cc) when that stem is used,
    # and the generic ones (kernel_util.cc, micro_tensor_utils.cc, lstm_eval.cc...) always.
    op_stems = {Path(f).stem for files in r.kernel_files.values() for f in files}
    used_stems = {Path(f).stem for f in op_files}
    # Custom operators' kernels (circular buffer, detection postprocess) and their helpers: never.
    custom = {p.stem for p in (tree / KERNELS).glob("*.cc")
              if _CUSTOM_OP.search(p.read_text(encoding="utf-8", errors="replace"))}
    generic = []
    for path in sorted((tree / KERNELS).glob("*.cc")):
        stem, rel = path.stem, path.relative_to(tree).as_posix()
        if stem in op_stems or stem in custom:
            continue
        owner = next((s for s in op_stems | custom if stem.startswith(s + "_")), None)
        if owner is None:
            generic.append(rel)
        elif owner in used_stems:
            op_files.add(rel)
    framework = _reached(tree, [*GLUE_HEADERS, *sorted(op_files)], [*_glob(tree, FRAMEWORK_GLOBS), *generic])
    defines, includes = list(COMMON_DEFINES), list(INCLUDE_DIRS)
    if kernels == "cmsis-nn":
        defines += CMSIS_NN_DEFINES
        includes += CMSIS_NN_INCLUDE_DIRS
        # the CMSIS-NN functions the kernels call, with the kernels: they depend on the operators
        op_files.update(_called(tree, sorted(op_files), _glob(tree, ("third_party/cmsis_nn/Source/**/*.c",))))
    return TflmLibrary(tree, kernels, list(opcodes), calls, sorted(headers), [*framework, *sorted(op_files)],
                       sorted(op_files), defines, includes)


@cache
def _includes(tree: Path, rel: str) -> tuple[str, ...]:
    """The tree files `rel` includes (relative to the tree, or to its own folder)."""
    text = (tree / rel).read_text(encoding="utf-8", errors="replace")
    found = []
    for name in _INCLUDE.findall(text):
        for candidate in (name, (Path(rel).parent / name).as_posix()):
            if (tree / candidate).is_file():
                found.append(candidate)
                break
    return tuple(found)


def _own_header(tree: Path, source: str) -> str | None:
    """The header a source implements: foo.h for foo.cc (or for foo_common.cc); None if none."""
    path = Path(source)
    stems = [path.stem, *([path.stem.removesuffix("_common")] if path.stem.endswith("_common") else [])]
    headers = (path.with_name(f"{s}.h").as_posix() for s in stems)
    return next((h for h in headers if (tree / h).is_file()), None)


def _reached(tree: Path, roots: list[str], candidates: list[str]) -> list[str]:
    """The candidate sources a build of `roots` needs: those whose own header the roots include,
    directly or through the headers and the needed sources; and those with no header of their own
    (a platform's debug_log.cc). Every #include counts, conditional or not: a superset. Sources
    nothing reaches (the recording allocator, LSTM helpers for a model without LSTM) are left out."""
    implementing: dict[str, list[str]] = {}
    kept = set()
    for source in candidates:
        header = _own_header(tree, source)
        if header is None:
            kept.add(source)
        else:
            implementing.setdefault(header, []).append(source)
    seen: set[str] = set()
    todo = [*roots, *kept]
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        for name in (rel, *_includes(tree, rel)):  # a root header is reached itself
            todo.append(name)
            for source in implementing.get(name, ()):
                kept.add(source)
                todo.append(source)
    return sorted(kept)


_ARM_NAME = re.compile(r"\barm_\w+")
_ARM_DEFINITION = re.compile(r"^[A-Za-z_][\w \t*]*?\b(arm_\w+)\s*\([^;{]*\)\s*\{", re.M)


def _called(tree: Path, callers: list[str], library: list[str]) -> list[str]:
    """The `library` C files defining the arm_* functions `callers` name, and those these name in
    turn (every arm_ name counts, in any #if branch: a superset)."""
    text = {rel: (tree / rel).read_text(encoding="utf-8", errors="replace") for rel in library}
    defines = {name: rel for rel in library for name in _ARM_DEFINITION.findall(text[rel])}
    kept: set[str] = set()
    todo = [(tree / rel).read_text(encoding="utf-8", errors="replace") for rel in callers]
    while todo:
        for name in set(_ARM_NAME.findall(todo.pop())):
            rel = defines.get(name)
            if rel is not None and rel not in kept:
                kept.add(rel)
                todo.append(text[rel])
    return sorted(kept)


def _manifest(name: str, lib: TflmLibrary, sources: list[str], what: str) -> dict[str, object]:
    return {
        "name": name,
        "version": lib.version,
        "description": f"TensorFlow Lite Micro {TFLM_COMMIT[:7]} from {lib.tree}: {what} (tinypipe).",
        "license": "Apache-2.0",
        "frameworks": "*",
        "platforms": "*",
        "build": {
            "srcDir": str(lib.tree),
            "includeDir": str(lib.tree),
            "srcFilter": ["-<*>", *(f"+<{s}>" for s in sources)],
            # Third-party code: its warnings are not tinypipe's to fix; no debug info (build time).
            "flags": ["-w", "-g0"],
            # The core's flags and TFLM's, not the framework's; a precompiled schema (lib_script.py).
            "extraScript": str(LIB_SCRIPT),
            "libArchive": True,
            "libLDFMode": "off",
        },
    }


def _write_manifest(libs_dir: Path, manifest: dict[str, object]) -> Path:
    """The manifest in a folder named by its content, written once: every project that builds the
    same sources points at the same folder, so PlatformIO builds them into the same object paths
    and its build_cache_dir serves them to every project after the first."""
    text = json.dumps(manifest, indent=2) + "\n"
    folder = libs_dir / f"{manifest['name']}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    if not (folder / "library.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"library.json.{os.getpid()}"
        tmp.write_text(text)
        tmp.replace(folder / "library.json")
    return folder


def write_library(libs_dir: Path, lib: TflmLibrary) -> dict[str, str]:
    """Write the library manifests (sources stay in the tree) under `libs_dir`; return the [env]
    options that build them and give their flags to every translation unit.

    Two libraries: the framework (interpreter, allocator, shared kernel helpers), the same for
    every model built with this kernel set (a model with LSTM adds its helpers), and the kernels
    of the model's operators with the CMSIS-NN functions they call."""
    kernel_files = set(lib.kernel_sources)
    framework = [s for s in lib.sources if s not in kernel_files]
    base = f"{LIBRARY_NAME}-{lib.kernels}"
    folders = [_write_manifest(libs_dir, _manifest(f"{base}-framework", lib, framework,
                                                   f"the framework, {lib.kernels} kernel set")),
               _write_manifest(libs_dir, _manifest(f"{base}-kernels", lib, sorted(kernel_files),
                                                   f"the kernels of {', '.join(lib.ops)}"))]
    return {"lib_deps": "\n".join(f"symlink://{f}" for f in folders), "build_flags": "\n".join(lib.flags())}
