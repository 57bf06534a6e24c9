"""The README stays honest: every CLI command and every setting is documented there."""

from __future__ import annotations

from pathlib import Path

import click

from annotator.cli import cli
from annotator.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            names += _commands(command, full + " ")
        else:
            names.append(full)
    return names


def test_every_cli_command_is_in_the_readme():
    missing = [name for name in _commands(cli) if f"annotator {name}" not in README]
    assert not missing, f"document these commands in README.md: {missing}"


def test_every_setting_is_in_the_readme():
    missing = []
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or []
        names = {f"ANNOTATOR_{name.upper()}", *aliases}
        if not any(n in README for n in names):
            missing.append(name)
    assert not missing, f"document these settings in README.md: {missing}"
