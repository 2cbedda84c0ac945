"""tinypipe: train, int8-quantize, generate firmware, flash and measure TinyML models."""

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
BOARDS_DIR = PROJECT_DIR / "boards"
TEMPLATES_DIR = PROJECT_DIR / "firmware_templates"
RUNTIME_DIR = PACKAGE_DIR / "runtime"
