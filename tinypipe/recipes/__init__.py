"""Training recipes: one module per task, each exposing a `RECIPE`, found by name here.

Modules are imported lazily so `tinypipe train --help` and an unknown-name error cost nothing.
"""

from __future__ import annotations

import importlib

from tinypipe.errors import TinypipeError
from tinypipe.recipes.base import TASKS, Dataset, Recipe, score

__all__ = ["NAMES", "TASKS", "Dataset", "Recipe", "check", "get", "score"]

NAMES = ("sine", "digits", "faces", "kws", "anomaly")


def check(name: str) -> None:
    """Raise TinypipeError listing the recipes unless `name` is one (cheap: imports nothing)."""
    if name not in NAMES:
        raise TinypipeError(
            f"unknown recipe '{name}'; the recipes are: {', '.join(NAMES)}",
            "run `tinypipe train --help` for what each recipe trains",
        )


def get(name: str) -> Recipe:
    """The recipe called `name` (its module imports Keras)."""
    check(name)
    recipe: Recipe = importlib.import_module(f"tinypipe.recipes.{name}").RECIPE
    return recipe
