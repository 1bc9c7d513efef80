"""Reading the settings for a CLI command: one line on stderr when they are wrong."""

from __future__ import annotations

from pydantic import ValidationError

from kizuki.config import ConfigFileError, Settings, config_file


class CliError(Exception):
    """A failure the user can fix: printed as one line, exit status 2."""


OVERRIDES: dict[str, object] = {}  # from the global options (--log-format)


def settings_or_exit(**overrides: object) -> Settings:
    """The root settings (with ``overrides``), or ``CliError`` saying what is wrong."""
    try:
        settings = Settings(**OVERRIDES)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise CliError(describe_validation(exc)) from None
    except ConfigFileError as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise CliError(f"cannot read settings file {config_file()}: {exc}") from None
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def describe_validation(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = "__".join(str(p) for p in err["loc"]).upper()
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"KIZUKI_{where}: {msg}" if where else msg)
    return "invalid setting: " + "; ".join(lines)
