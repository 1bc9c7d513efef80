"""The signing secret of `kizuki run` and `kizuki api`, kept in the data directory.

An ``api.secret_key`` given in settings wins. Otherwise the first start writes a random
secret to ``<data_dir>/secret_key`` (created exclusively, mode 0600) and every later
start, and every other process on the same data directory, reads it back, so sessions
and feedback links survive restarts. A file others may read is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import SecretStr

from api.settings import check_secret, random_secret
from kizuki.config import Settings

FILE_NAME = "secret_key"


class SecretFileError(RuntimeError):
    """The secret file cannot be used; the message says why and how to fix it."""


def secret_path(settings: Settings) -> Path:
    return settings.data_dir / FILE_NAME


def with_secret(settings: Settings) -> Settings:
    """``settings`` with the secret from settings, or else from (a new) secret file."""
    if "secret_key" in settings.api.model_fields_set:
        return settings
    secret = load_or_create(secret_path(settings))
    api = settings.api.model_copy(update={"secret_key": SecretStr(secret)})
    return settings.model_copy(update={"api": api})


def load_or_create(path: Path) -> str:
    """The secret in ``path``; a new random one written there (0600) if there is none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return _read(path)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(random_secret().get_secret_value() + "\n")
    try:
        os.link(draft, path)  # atomic: a process starting at the same time reads ours
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return _read(path)


def _read(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretFileError(f"{path} is readable by others: chmod 600 {path}")
    secret = path.read_text(encoding="utf-8").strip()
    try:
        check_secret(secret)
    except ValueError as exc:
        raise SecretFileError(f"{path}: {exc}") from None
    return secret
