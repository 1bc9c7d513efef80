"""docs/deployment.md and deploy/systemd stay true: every `kizuki ...` command they show
parses (its subcommand and options exist), and every setting the guide's TOML sets is one."""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest

from kizuki.cli import main
from kizuki.config import refuse_unknown_keys

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deployment.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def _guide_commands() -> list[list[str]]:
    found = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if not line.startswith(("kizuki ", "sudo ")):
                continue
            for part in line.split(" # ")[0].split(";"):
                words = shlex.split(part.strip())
                names = [w for w in words if w == "kizuki" or w.endswith("/bin/kizuki")]
                if names:
                    found.append(words[words.index(names[-1]) + 1 :])
    return found


def _unit_commands() -> list[list[str]]:
    found = []
    for unit in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        for line in unit.read_text(encoding="utf-8").splitlines():
            if line.startswith(("ExecStart=", "ExecStartPre=")):
                words = shlex.split(line.split("=", 1)[1])
                assert words[0].endswith("/kizuki"), line
                found.append(words[1:])
    return found


def test_the_guide_and_the_units_name_commands_that_exist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = _guide_commands() + _unit_commands()
    assert len(commands) >= 12
    for args in commands:
        sys.argv = ["kizuki", *args, "--help"]
        with pytest.raises(SystemExit) as done:
            main()
        out, err = capsys.readouterr()
        assert done.value.code == 0, (args, err)


def test_the_guide_settings_file_has_only_real_settings(tmp_path: Path) -> None:
    [toml] = _blocks("toml")
    path = tmp_path / "kizuki.toml"
    path.write_text(toml, encoding="utf-8")
    tomllib.loads(toml)
    refuse_unknown_keys(path)  # raises naming the first key that is no setting
