"""`tinypipe export MODEL --library`: two models' libraries in one program, on qemu-m4 through
PlatformIO (library.json, the QEMU platform) and on the host through CMake (CMakeLists.txt), each
model bit-exact with LiteRT; namespaced symbols, only the model's kernels, the build options
(application arena, arena section, inputs and outputs outside the arena)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, mlperf_model
from tinypipe.boards import load_board
from tinypipe.build import build, emulate, prepare_project, write_platformio_ini
from tinypipe.errors import TinypipeError
from tinypipe.library import example_app, write_library
from tinypipe.reference import Reference, random_inputs

DIGITS = ROOT / "tests" / "data" / "digits_int8.tflite"
SAMPLES = 3

# digits: the static arena, in a named section. kws: the application's arena, and its input and
# output in the application's buffers. Both share conv, fully-connected, pooling, softmax kernels.
APP_C = r"""
#include <stdint.h>
#include <string.h>

#include "digits.h"
#include "kws.h"
#include "samples.h"
#include "tp_hal.h"

static uint8_t kws_arena[KWS_ARENA_BYTES] __attribute__((aligned(KWS_ARENA_ALIGN)));
static int8_t kws_in[KWS_INPUT0_BYTES] __attribute__((aligned(16)));
static int8_t kws_out[KWS_OUTPUT0_BYTES] __attribute__((aligned(16)));

static void say(const char *s) { tp_hal_write(s, (uint32_t)strlen(s)); }

static void say_bytes(const char *model, int n, const int8_t *bytes, uint32_t len)
{
    static const char hex[] = "0123456789abcdef";
    char text[3];
    say(model);
    text[0] = ' ';
    text[1] = (char)('0' + n);
    text[2] = ' ';
    tp_hal_write(text, 3);
    for (uint32_t i = 0; i < len; i++) {
        text[0] = hex[((uint8_t)bytes[i]) >> 4];
        text[1] = hex[((uint8_t)bytes[i]) & 15u];
        tp_hal_write(text, 2);
    }
    say("\r\n");
}

int main(void)
{
    tp_hal_init();
    digits_init();
    if (kws_init_arena(kws_arena, 8) != -1 || kws_init_arena(kws_arena, sizeof kws_arena) != 0) {
        return 2;
    }
    if (kws_set_input(0, kws_in) != 0 || kws_set_output(0, kws_out) != 0 || kws_set_input(1, kws_in) != -1) {
        return 3;
    }
    for (int n = 0; n < SAMPLES; n++) {
        memcpy(digits_input(0), digits_samples[n], DIGITS_INPUT0_BYTES);
        memcpy(kws_in, kws_samples[n], KWS_INPUT0_BYTES);
        if (digits_invoke() != 0 || kws_invoke() != 0) {
            return 4;
        }
        say_bytes("digits", n, digits_output(0), DIGITS_OUTPUT0_BYTES);
        say_bytes("kws", n, kws_out, KWS_OUTPUT0_BYTES);
    }
    say("done\r\n");
    return 0;
}
"""


def _c_array(name: str, samples: np.ndarray) -> str:
    rows = ",\n".join("    {" + ", ".join(str(int(v)) for v in s.reshape(-1)) + "}" for s in samples)
    return f"static const int8_t {name}[{len(samples)}][{samples[0].size}] = {{\n{rows}\n}};\n"


def _samples(models: dict[str, Path]) -> tuple[str, dict[str, tuple[np.ndarray, list[np.ndarray]]]]:
    """samples.h and, per model, its inputs and LiteRT's outputs."""
    header = f"#define SAMPLES {SAMPLES}\n"
    expected = {}
    for name, path in models.items():
        ref = Reference(path)
        x = random_inputs(ref.input_details, SAMPLES, seed=3)[0]
        header += _c_array(f"{name}_samples", x)
        expected[name] = (x, [ref([x[k]])[0].reshape(-1) for k in range(SAMPLES)])
    return header, expected


def _outputs(text: str) -> dict[tuple[str, int], np.ndarray]:
    found = {}
    for model, n, hexes in re.findall(r"^(digits|kws) (\d) ([0-9a-f]+)\r?$", text, re.M):
        found[(model, int(n))] = np.frombuffer(bytes.fromhex(hexes), dtype=np.int8)
    return found


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("libs")
    models = {"digits": DIGITS, "kws": mlperf_model("kws_ref_model")}
    for name, path in models.items():
        write_library(path, root / name, name)
    return root, models


def test_library_layout_names_and_kernels(libraries: tuple[Path, dict[str, Path]]) -> None:
    root, _ = libraries
    lib = root / "digits"
    files = sorted(str(p.relative_to(lib)) for p in lib.rglob("*") if p.is_file())
    assert files == ["CMakeLists.txt", "README.md", "library.json", "library.properties", "src/digits.c",
                     "src/digits.h", "src/digits.json", "src/kernels/conv_s8.c", "src/kernels/conv_s8.h",
                     "src/kernels/conv_s8_dsp.c", "src/kernels/conv_s8_mve.c", "src/kernels/conv_s8_patch.h",
                     "src/kernels/fully_connected_s8.c", "src/kernels/fully_connected_s8.h",
                     "src/kernels/fully_connected_s8_dsp.c", "src/kernels/fully_connected_s8_mve.c",
                     "src/kernels/pooling_s8.c", "src/kernels/pooling_s8.h", "src/kernels/softmax_s8.c",
                     "src/kernels/softmax_s8.h", "src/tp_common.h"]  # only the kernel families digits calls
    assert json.loads((lib / "library.json").read_text())["build"]["libArchive"] is True
    assert "dot_a_linkage=true" in (lib / "library.properties").read_text()
    header = (lib / "src" / "digits.h").read_text()
    # every public function and macro is namespaced; nothing of the benchmark harness is there
    source = (lib / "src" / "digits.c").read_text()
    assert not re.search(r"\btp_model_|\bTP_MODEL_|tp_glue|tp_harness", header + source)
    for fn in re.findall(r"^\w[\w\s\*]*?\b(\w+)\(", header, re.M):
        assert fn.startswith("digits_"), fn
    for macro in re.findall(r"^#define (\w+)", header, re.M):
        assert macro.startswith("DIGITS_"), macro
    readme = (lib / "README.md").read_text()
    assert example_app("digits") in readme.replace("```c\n", "").replace("```", "")


def test_readme_application_compiles_against_the_library(libraries: tuple[Path, dict[str, Path]],
                                                         tmp_path: Path) -> None:
    root, _ = libraries
    app = tmp_path / "app.c"
    app.write_text(example_app("digits"))
    assert example_app("digits") in (ROOT / "README.md").read_text()  # the project README shows it
    proc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(app),
                           f"-I{root / 'digits' / 'src'}", "-o", str(tmp_path / "app.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_library_name_is_checked(tmp_path: Path) -> None:
    with pytest.raises(TinypipeError, match="runtime kernels' prefix"):
        write_library(DIGITS, tmp_path / "a", "tp_digits")
    with pytest.raises(TinypipeError, match="lowercase C identifier"):
        write_library(DIGITS, tmp_path / "b", "Digits-1")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "mine.c").write_text("int x;\n")
    with pytest.raises(TinypipeError, match="not a tinypipe model library"):
        write_library(DIGITS, tmp_path / "c", "digits")


def test_library_cli(tmp_path: Path) -> None:
    out = tmp_path / "lib"
    cli = [sys.executable, "-m", "tinypipe.cli", "export", str(DIGITS), "--library"]
    proc = subprocess.run([*cli, "--name", "digits", "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "library digits, 4 kernels" in proc.stdout and (out / "src" / "digits.h").is_file()
    proc = subprocess.run([*cli, "--board", "qemu-m4", "--out", str(tmp_path / "x")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "--board does not apply" in proc.stderr


@pytest.mark.qemu
@pytest.mark.slow
def test_two_model_libraries_in_one_program_on_qemu_m4(libraries: tuple[Path, dict[str, Path]],
                                                       tmp_path: Path) -> None:
    root, models = libraries
    board = load_board("qemu-m4")
    project = tmp_path / "app"
    for name in models:  # PlatformIO's lib/ directory, as a user would copy them
        shutil.copytree(root / name, project / "lib" / name)
    header, expected = _samples(models)
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.c").write_text(APP_C)
    (project / "src" / "samples.h").write_text(header)
    env = prepare_project(board, project, core_dir=tmp_path / "pio-core")
    env["build_flags"] = "\n".join(["-DKWS_USER_ARENA", "-DKWS_EXTERNAL_IO",
                                    "'-DDIGITS_ARENA_SECTION=\".bss.digits_arena\"'"])
    env["build_src_flags"] = "\n".join(["-Wall", "-Wextra", "-Werror"])
    write_platformio_ini(project, board, env, core_dir=tmp_path / "pio-core")
    built = build(project)
    assert built.map_file is not None
    link_map = built.map_file.read_text()
    arena = r"\.bss\.digits_arena\s*\n?\s*0x[0-9a-f]+\s+0x0*810 .*libdigits\.a\(digits\.o\)"
    assert re.search(arena, link_map)  # DIGITS_ARENA_SECTION placed the arena (0x810 = 2,064 B)
    # both archives hold the shared kernels; the linker takes each from one of them only, and on
    # this DSP core the DSP variants of the convolution and the fully-connected layer, not the portable C
    for kernel in ("conv_s8_dsp", "fully_connected_s8_dsp", "pooling_s8", "softmax_s8"):
        assert len(set(re.findall(rf"lib(\w+)\.a\({kernel}\.o\)", link_map))) == 1, kernel
    for portable in ("conv_s8", "fully_connected_s8"):
        assert not re.search(rf"lib\w+\.a\({portable}\.o\)", link_map), portable
    with emulate(project, timeout_s=120) as session:
        text = session.read_until_exit().decode(errors="replace")
        code = session.wait()
    assert code == 0 and text.rstrip().endswith("done"), text
    got = _outputs(text)
    for name, (_, outputs) in expected.items():
        for n in range(SAMPLES):
            np.testing.assert_array_equal(got[(name, n)], outputs[n], err_msg=f"{name} sample {n}")


def test_two_model_libraries_with_cmake_on_the_host(libraries: tuple[Path, dict[str, Path]],
                                                    tmp_path: Path) -> None:
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    root, models = libraries
    header, expected = _samples(models)
    app = tmp_path / "app"
    app.mkdir()
    (app / "samples.h").write_text(header)
    hal = "#include <stdio.h>\n#include <stdint.h>\nstatic inline void tp_hal_init(void) {}\n" \
          "static inline void tp_hal_write(const void *p, uint32_t n) { fwrite(p, 1, n, stdout); }\n"
    (app / "tp_hal.h").write_text(hal)
    (app / "main.c").write_text(APP_C)
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f"add_subdirectory({root / 'digits'} digits)\nadd_subdirectory({root / 'kws'} kws)\n"
        "target_compile_definitions(kws PUBLIC KWS_USER_ARENA KWS_EXTERNAL_IO)\n"
        "add_executable(app main.c)\nset_target_properties(app PROPERTIES C_STANDARD 99)\n"
        "target_compile_options(app PRIVATE -Wall -Wextra -Werror)\n"
        "target_link_libraries(app PRIVATE digits kws)\n")
    build_dir = tmp_path / "build"
    for cmd in (["cmake", "-S", str(app), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release"],
                ["cmake", "--build", str(build_dir)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    targets = (build_dir / "Makefile").read_text() if (build_dir / "Makefile").is_file() else ""
    assert "tinypipe_kernel_conv_s8" in targets  # one target per kernel, for both models
    proc = subprocess.run([str(build_dir / "app")], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = _outputs(proc.stdout.decode())
    for name, (_, outputs) in expected.items():
        for n in range(SAMPLES):
            np.testing.assert_array_equal(got[(name, n)], outputs[n], err_msg=f"{name} sample {n}")
