"""TensorFlow Lite Micro on the cores other than qemu-m4's (test_tflm.py): CMSIS-NN's Helium
kernels on the Cortex-M55 and the reference kernels on the micro:bit's Cortex-M0, each a build of
its own flag set (a file of its own, so that the two test workers share the builds out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import mlperf_model, tflm_tree
from tests.test_tflm import DIGITS, TFLM_LABEL
from tinypipe.validate import validate


@pytest.mark.slow
@pytest.mark.qemu
def test_helium_kernels_on_m55(tmp_path: Path) -> None:
    tflm_tree()
    result = validate(mlperf_model("kws_ref_model"), board="qemu-m55", samples=3, runtime="tflm",
                      work_dir=tmp_path)
    assert result.bit_exact == result.samples == 3, result.summary()
    assert TFLM_LABEL in result.reference and result.runtime == "tflm"


@pytest.mark.slow
@pytest.mark.qemu
def test_recipe_model_on_the_cortex_m0_microbit(tmp_path: Path) -> None:
    """TFLite Micro's reference kernels fit the micro:bit's 16 KB of RAM for the digits CNN."""
    tflm_tree()
    result = validate(DIGITS, board="qemu-microbit", samples=5, runtime="tflm", work_dir=tmp_path)
    assert result.bit_exact == result.samples == 5, result.summary()
