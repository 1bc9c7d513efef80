"""``python -m simulator``: the ``kizuki simulate`` command on its own."""

from __future__ import annotations

import typer

from simulator.cli import simulate


def main() -> None:
    app = typer.Typer(add_completion=False)
    app.command()(simulate)
    app()


if __name__ == "__main__":
    main()
