"""Library stage: a model as a C library for the application's own firmware, no harness.

    write_library(model, out, name="kws") -> Library

writes into `out`:

    README.md            the API, the build options and a complete application
    library.json         PlatformIO library manifest (lib/<name>/ or lib_deps = file://...)
    library.properties   Arduino library manifest (dot_a_linkage: linked from an archive)
    CMakeLists.txt       CMake: target <name>, plus one target per kernel, shared between libraries
    src/<name>.c .h .json  the model compiled ahead of time (tinypipe.aot.codegen); every public
                         symbol is <name>_..., every macro <NAME>_...
    src/tp_common.h, src/kernels/...  the runtime kernels this model calls, and only those

Two models' libraries link into one program: the model symbols are namespaced, and the kernels
(`tp_<op>_s8`, the same source in every library of one tinypipe version) are compiled once and
shared: CMake defines each kernel target only once (`if(NOT TARGET ...)`), and PlatformIO and
the Arduino IDE link every library from an archive, from which the linker takes a kernel once.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tinypipe import RUNTIME_DIR, __version__
from tinypipe.aot.codegen import DEFAULT_OPTIMIZE, AotModel, check_name, kernel_headers, plan_layers, render
from tinypipe.errors import TinypipeError
from tinypipe.graph import load

RESERVED_PREFIX = "tp_"  # the runtime's own names (kernels, tp_common.h)
MANIFESTS = ("library.json", "library.properties", "CMakeLists.txt", "README.md")


@dataclass
class Library:
    dir: Path
    name: str  # the symbol prefix, library and target name
    model: AotModel
    kernels: list[str]  # kernel file stems, e.g. ["conv_s8", "softmax_s8"]
    files: list[Path] = field(default_factory=list)

    @property
    def header(self) -> Path:
        return self.dir / "src" / f"{self.name}.h"


def default_name(model: str | Path) -> str:
    """A symbol prefix from the model's file name: 'kws_ref_model.tflite' -> 'kws_ref_model'."""
    stem = re.sub(r"[^0-9a-z_]+", "_", Path(model).stem.lower()).strip("_") or "model"
    stem = stem if re.match(r"[a-z_]", stem) else f"m_{stem}"
    return stem.removeprefix(RESERVED_PREFIX) or "model"


def check_prefix(name: str) -> None:
    check_name(name, "--name")
    if name.startswith(RESERVED_PREFIX) or name == "tp":
        raise TinypipeError(f"--name '{name}' starts with {RESERVED_PREFIX!r}, the runtime kernels' prefix",
                            "choose another prefix, e.g. --name kws")


def _check_out(out: Path, name: str) -> None:
    """`out` must be new, empty, or a library tinypipe wrote (its manifests, src/)."""
    if not out.exists() or not any(out.iterdir()):
        return
    ours = {p.name for p in out.iterdir()} <= {*MANIFESTS, "src"} and (out / "library.json").is_file()
    if not ours:
        raise TinypipeError(f"{out} exists and is not a tinypipe model library",
                            "choose an empty or new --out directory")


def _kernel_stems(model: AotModel) -> list[str]:
    headers = kernel_headers()
    return sorted({headers[la.kernel].removesuffix(".h") for la in model.layers if la.kernel})


def write_library(model: str | Path, out: str | Path, name: str | None = None,
                  optimize: str = DEFAULT_OPTIMIZE) -> Library:
    """Write the library for `model` into `out` (see the module docstring); `optimize`: how much
    arena the faster kernel variants may take (ram, balanced or time)."""
    model, out = Path(model), Path(out)
    name = name or default_name(model)
    check_prefix(name)
    graph = load(model)
    layers, plan = plan_layers(graph, optimize)
    _check_out(out, name)
    shutil.rmtree(out / "src", ignore_errors=True)  # a rewrite replaces the sources
    src = out / "src"
    aot = render(graph, layers, plan, src, name, prefix=name, optimize=optimize)
    files = list(aot.files)
    kernels = _kernel_stems(aot)
    shutil.copyfile(RUNTIME_DIR / "tp_common.h", src / "tp_common.h")
    files.append(src / "tp_common.h")
    (src / "kernels").mkdir(parents=True, exist_ok=True)
    for stem in kernels:  # a family: <stem>.h/.c and its variant files (<stem>_dsp.c, _mve.c, ...)
        for path in sorted((RUNTIME_DIR / "kernels").glob(f"{stem}*.[ch]")):
            if path.stem == stem or path.stem.startswith(f"{stem}_"):
                shutil.copyfile(path, src / "kernels" / path.name)
                files.append(src / "kernels" / path.name)
    lib = Library(out, name, aot, kernels)
    for file_name, text in (("library.json", _library_json(lib, model)),
                            ("library.properties", _library_properties(lib, model)),
                            ("CMakeLists.txt", _cmakelists(lib, model)),
                            ("README.md", readme(lib, model))):
        (out / file_name).write_text(text)
        files.append(out / file_name)
    lib.files = files
    return lib


def _description(lib: Library, model: Path) -> str:
    m = lib.model
    return (f"{model.name} compiled ahead of time by tinypipe {__version__}: {len(m.layers)} layers, "
            f"{m.macs:,} MACs, weights {m.weights_bytes:,} B, arena {m.arena_bytes:,} B")


def _library_json(lib: Library, model: Path) -> str:
    manifest = {
        "name": lib.name,
        "version": __version__,
        "description": _description(lib, model),
        "keywords": ["tinyml", "tflite", "int8", "tinypipe"],
        "license": "Apache-2.0",
        "frameworks": "*",
        "platforms": "*",
        # libArchive: the linker takes each kernel once from the archives of several model libraries
        "build": {"srcDir": "src", "includeDir": "src", "libArchive": True},
    }
    return json.dumps(manifest, indent=2) + "\n"


def _library_properties(lib: Library, model: Path) -> str:
    return "\n".join([
        f"name={lib.name}",
        f"version={__version__}",
        "author=tinypipe",
        "maintainer=tinypipe",
        f"sentence={model.name} as C, compiled ahead of time by tinypipe.",
        f"paragraph={_description(lib, model)}. Kernels shared between model libraries link once.",
        "category=Data Processing",
        "url=https://github.com/tinypipe/tinypipe",
        "architectures=*",
        f"includes={lib.name}.h",
        "dot_a_linkage=true",
        "",
    ])


def _cmakelists(lib: Library, model: Path) -> str:
    kernels = " ".join(lib.kernels)
    return f"""# {lib.name}: {model.name} compiled ahead of time by tinypipe {__version__}.
# Generated; do not edit.
#
#   add_subdirectory({lib.name})
#   target_link_libraries(app PRIVATE {lib.name})
#
# Build options, as compile definitions of the target (PUBLIC: the header sees them too):
#   target_compile_definitions({lib.name} PUBLIC {lib.name.upper()}_USER_ARENA)
#   target_compile_definitions({lib.name} PUBLIC {lib.name.upper()}_EXTERNAL_IO)
#   target_compile_definitions({lib.name} PRIVATE {lib.name.upper()}_ARENA_SECTION=".sram2")
cmake_minimum_required(VERSION 3.13)
project({lib.name} C)

# One static library per kernel, shared by every tinypipe model library in the build: a kernel
# target another model library defined first is reused, so each kernel is compiled once.
set({lib.name}_kernels {kernels})
foreach(kernel IN LISTS {lib.name}_kernels)
  if(NOT TARGET tinypipe_kernel_${{kernel}})
    add_library(tinypipe_kernel_${{kernel}} STATIC ${{CMAKE_CURRENT_LIST_DIR}}/src/kernels/${{kernel}}.c)
    target_include_directories(tinypipe_kernel_${{kernel}} PUBLIC ${{CMAKE_CURRENT_LIST_DIR}}/src)
    set_target_properties(tinypipe_kernel_${{kernel}} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)
    if(NOT MSVC)  # softmax and the float conversions call libm
      target_link_libraries(tinypipe_kernel_${{kernel}} PUBLIC m)
    endif()
  endif()
endforeach()

add_library({lib.name} STATIC ${{CMAKE_CURRENT_LIST_DIR}}/src/{lib.name}.c)
target_include_directories({lib.name} PUBLIC ${{CMAKE_CURRENT_LIST_DIR}}/src)
set_target_properties({lib.name} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)
foreach(kernel IN LISTS {lib.name}_kernels)
  target_link_libraries({lib.name} PUBLIC tinypipe_kernel_${{kernel}})
endforeach()
"""


def example_app(name: str) -> str:
    """The application the READMEs show: read an input, run the model, act on its best class."""
    n, N = name, name.upper()
    return f"""#include <string.h>
#include "{n}.h"  /* tinypipe export model.tflite --library --name {n} */

int read_sensor(int8_t *input);  /* yours: one quantized input; 0 when there is none */
void act_on(int best_class);     /* yours */

int main(void) {{
    static int8_t input[{N}_INPUT0_BYTES];
    {n}_init();  /* once: clears the model's arena */
    while (read_sensor(input)) {{
        memcpy({n}_input(0), input, sizeof input);
        if ({n}_invoke() != 0) return 1;
        const int8_t *score = {n}_output(0);  /* {N}_OUTPUT0_SIZE int8 scores */
        int best = 0;
        for (int i = 1; i < {N}_OUTPUT0_SIZE; i++) best = score[i] > score[best] ? i : best;
        act_on(best);
    }}
    return 0;
}}
"""


def readme(lib: Library, model: Path) -> str:
    n, N, m = lib.name, lib.name.upper(), lib.model
    io = "\n".join(f"- input {i}: `{io.name}` {list(io.shape)} {io.dtype}, {io.nbytes} B"
                   for i, io in enumerate(m.inputs))
    io += "\n" + "\n".join(f"- output {i}: `{io.name}` {list(io.shape)} {io.dtype}, {io.nbytes} B"
                           for i, io in enumerate(m.outputs))
    return f"""# {n}

{_description(lib, model)}. Generated by
`tinypipe export {model.name} --library --name {n} --optimize {m.optimize}`; do not edit,
regenerate instead.

{io}

## Use

PlatformIO: copy this directory to `lib/{n}/` (or `lib_deps = file://path/to/{n}`). Arduino IDE:
copy it to `libraries/{n}/`. CMake: `add_subdirectory({n})`, then
`target_link_libraries(app PRIVATE {n})`.

```c
{example_app(n).rstrip()}
```

## API (`src/{n}.h`)

| | |
|---|---|
| `void {n}_init(void)` | once, before the first invoke: clears the static arena |
| `int8_t *{n}_input(int i)`, `{n}_output(int i)` | where input i is written, output i read (raw bytes) |
| `uint32_t {n}_input_bytes(int i)`, `{n}_output_bytes(int i)` | their sizes |
| `int {n}_invoke(void)` | runs every layer; 0 = ok |
| `{N}_ARENA_BYTES`, `{N}_WEIGHTS_BYTES`, `{N}_MACS` | RAM, flash and work, known at compile time |
| `{N}_INPUT0_BYTES`, `_SIZE`, `_RANK`, `_DIMS`, `_SCALE`, `_ZERO_POINT` | input 0's geometry and \
quantization (every input and output alike) |

Build options (compile definitions for `{n}.c` and the code including `{n}.h` alike):

- `{N}_ARENA_SECTION=".name"`: the static arena goes to that linker section (e.g. a faster RAM).
- `{N}_USER_ARENA`: no static arena; the application passes its own, `{N}_ARENA_BYTES` bytes
  aligned to `{N}_ARENA_ALIGN`, to `int {n}_init_arena(void *arena, uint32_t bytes)` (instead
  of `{n}_init`), e.g. one buffer shared by models that never run at the same time.
- `{N}_EXTERNAL_IO`: `int {n}_set_input(int i, const void *buffer)` and
  `int {n}_set_output(int i, void *buffer)` make the model read its input from and write its
  output to the application's buffers (16-byte aligned) instead of the arena: no copies, and
  an output that outlives the next invoke. `NULL` goes back to the arena.

## Several models in one program

Every public name of this library starts with `{n}_` / `{N}_`. The kernels (`tp_<op>_s8`,
`src/kernels/`) are the same files in every library one tinypipe version writes: CMake defines
each kernel target once for all libraries, and PlatformIO and the Arduino IDE link libraries
from archives, from which the linker takes each kernel once. Libraries linked together must come
from the same tinypipe version.

Kernels are bit-exact with TensorFlow Lite's int8 reference kernels. On Cortex-M4/M7/M33 they use
the DSP extension, on Cortex-M55 Helium, selected at compile time; `-DTP_PORTABLE` forces the
portable C.
"""
