"""Running the `leadloop` command in-process, as a person would type it."""

from click.testing import Result
from typer.testing import CliRunner

from leadloop.cli import app


def leadloop(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(app, list(args))
