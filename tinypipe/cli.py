"""The `tinypipe` command: a thin layer over the stage modules' Python API.

Each command imports its stage lazily (TensorFlow takes seconds to import), calls one API
function and prints the result. A TinypipeError becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from tinypipe.errors import TinypipeError

app = typer.Typer(
    help="TinyML deployment pipeline: train -> quantize -> inspect -> export -> build -> flash -> measure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


# --- model side -------------------------------------------------------------------------------


@app.command("inspect")
def inspect_cmd(
    model: Path = typer.Argument(..., help="A .tflite model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show every operator, its MACs and parameters, and the RAM/flash the model needs.

    Example: tinypipe inspect ../shared/models/mlperf-tiny/kws_ref_model.tflite
    """
    from tinypipe import inspect as inspect_stage

    report = inspect_stage.inspect_model(model)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        inspect_stage.print_report(report, console)


@app.command("export-c")
def export_c_cmd(
    model: Path = typer.Argument(..., help="A .tflite model."),
    out: Path = typer.Option(..., "--out", help="Directory for NAME.h and NAME.c."),
    name: str = typer.Option("model_data", "--name", help="C identifier for the array and files."),
) -> None:
    """Write the model as an aligned const C array (.h/.c), byte-for-byte deterministic.

    Example: tinypipe export-c model.tflite --out firmware/src --name kws_model
    """
    from tinypipe import export_c

    files = export_c.export_c(model, out, name)
    for f in files:
        console.print(f"wrote {f}")


def main() -> None:
    try:
        app()
    except TinypipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
