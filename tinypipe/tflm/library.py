"""TensorFlow Lite Micro as a PlatformIO library written into the firmware project.

`plan_library()` decides what to compile from the tree itself: the framework sources, and for
each operator of the model the kernel file that defines the registration its
MicroMutableOpResolver method uses (read from `micro_mutable_op_resolver.h`), in its CMSIS-NN
version when the core has DSP or MVE instructions and CMSIS-NN has one. Nothing else is compiled.

`write_library()` writes `lib/tflite-micro/library.json` pointing at the tree (nothing is copied)
and returns the [env] options that give the TFLM flags to *every* translation unit: the library's
and the project's own sources. That matters: `-DTF_LITE_STATIC_MEMORY` changes the layout of
`TfLiteTensor`, and a glue file compiled without it reads `tensor->data` from the wrong field.
The tree's include directories are `-isystem`, so TFLM's headers (which fail `-Wextra -Werror`)
do not fail tinypipe's strict build of its own sources.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tinypipe.boards import Board
from tinypipe.errors import TinypipeError
from tinypipe.tflm.tree import CMSIS_NN_COMMIT, TFLM_COMMIT

LIBRARY_NAME = "tflite-micro"
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

_METHOD = re.compile(r"TfLiteStatus (Add\w+)\(\s*const TFLMRegistration& registration\s*=\s*"
                     r"(?:[\w:]*::)?(Register_\w+)\(\)\)\s*\{\s*return AddBuiltin\(BuiltinOperator_(\w+),")
_REGISTRATION = re.compile(r"TFLMRegistration\s+(Register_\w+)\s*\(\s*\)\s*\{")


@dataclass(frozen=True)
class Resolver:
    """What the tree's MicroMutableOpResolver offers: builtin -> (Add method, registration)."""

    methods: dict[str, tuple[str, str]]
    kernel_files: dict[str, list[str]]  # registration -> files defining it (reference, cmsis_nn)


@cache
def resolver(tree: Path) -> Resolver:
    header = (tree / MICRO / "micro_mutable_op_resolver.h").read_text(encoding="utf-8")
    methods = {op: (method, reg) for method, reg, op in _METHOD.findall(header)}
    files: dict[str, list[str]] = {}
    for path in sorted((tree / KERNELS).rglob("*.cc")):
        for reg in set(_REGISTRATION.findall(path.read_text(encoding="utf-8", errors="replace"))):
            files.setdefault(reg, []).append(path.relative_to(tree).as_posix())
    return Resolver(methods, files)


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
    resolver_methods: list[str]
    sources: list[str] = field(default_factory=list)  # relative to the tree
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


def plan_library(tree: Path, opcodes: list[str], kernels: str) -> TflmLibrary:
    """The sources and flags for a TFLM build running `opcodes` with `kernels`; a TinypipeError for
    an operator this tree cannot register."""
    if kernels not in KERNEL_SETS:
        raise TinypipeError(f"unknown TFLite Micro kernel set {kernels!r}",
                            f"use one of {', '.join(KERNEL_SETS)}")
    r = resolver(tree)
    methods, op_files = [], set()
    for op in opcodes:
        if op not in r.methods or r.methods[op][1] not in r.kernel_files:
            raise TinypipeError(
                f"operator {op} has no TensorFlow Lite Micro kernel in {tree} (commit {TFLM_COMMIT[:7]})",
                "use --runtime aot if it supports the operator (tinypipe inspect lists both), "
                "or rebuild the model with builtin operators TFLite Micro has")
        method, reg = r.methods[op]
        methods.append(method)
        candidates = r.kernel_files[reg]
        optimized = [f for f in candidates if "/cmsis_nn/" in f]
        reference = [f for f in candidates if "/cmsis_nn/" not in f]
        op_files.update(optimized if kernels == "cmsis-nn" and optimized else reference)
    # Kernel helpers: a stem's own helpers (conv_common.cc for conv.cc) when that stem is used,
    # and the generic ones (kernel_util.cc, micro_tensor_utils.cc, lstm_eval.cc...) always.
    op_stems = {Path(f).stem for files in r.kernel_files.values() for f in files}
    used_stems = {Path(f).stem for f in op_files}
    helpers = []
    for path in sorted((tree / KERNELS).glob("*.cc")):
        stem = path.stem
        if stem in op_stems:
            continue
        owner = next((s for s in op_stems if stem.startswith(s + "_")), None)
        if owner is None or owner in used_stems:
            helpers.append(path.relative_to(tree).as_posix())
    sources = [*_glob(tree, FRAMEWORK_GLOBS), *helpers, *sorted(op_files)]
    defines, includes = list(COMMON_DEFINES), list(INCLUDE_DIRS)
    if kernels == "cmsis-nn":
        defines += CMSIS_NN_DEFINES
        includes += CMSIS_NN_INCLUDE_DIRS
        sources += _glob(tree, ("third_party/cmsis_nn/Source/**/*.c",))
    return TflmLibrary(tree, kernels, list(opcodes), methods, sources, defines, includes)


def write_library(project_dir: Path, lib: TflmLibrary) -> dict[str, str]:
    """Write lib/tflite-micro/library.json (sources stay in the tree); return the [env] options
    that build it and give its flags to every translation unit."""
    manifest = {
        "name": LIBRARY_NAME,
        "version": lib.version,
        "description": f"TensorFlow Lite Micro {TFLM_COMMIT[:7]} from {lib.tree}, {lib.kernels} kernels, "
                       f"operators: {', '.join(lib.ops)}. Generated by tinypipe.",
        "license": "Apache-2.0",
        "frameworks": "*",
        "platforms": "*",
        "build": {
            "srcDir": str(lib.tree),
            "includeDir": str(lib.tree),
            "srcFilter": ["-<*>", *(f"+<{s}>" for s in lib.sources)],
            # Third-party code: its warnings are not tinypipe's to fix; no debug info (build time).
            "flags": ["-w", "-g0"],
            "libArchive": True,
            "libLDFMode": "off",
        },
    }
    lib_dir = Path(project_dir) / "lib" / LIBRARY_NAME
    lib_dir.mkdir(parents=True, exist_ok=True)
    (lib_dir / "library.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return {"lib_deps": LIBRARY_NAME, "build_flags": "\n".join(lib.flags())}
