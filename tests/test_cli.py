"""The command line itself: plain help for every command."""

from __future__ import annotations

import pytest


def command_names() -> list[list[str]]:
    from evalgate.cli import app

    names: list[list[str]] = [[]]
    for cmd in app.registered_commands:
        names.append([cmd.name or cmd.callback.__name__.replace("_", "-")])
    for group in app.registered_groups:
        names.append([group.name])
        for cmd in group.typer_instance.registered_commands:
            names.append([group.name, cmd.name or cmd.callback.__name__.replace("_", "-")])
    return names


@pytest.mark.parametrize("command", command_names(), ids=lambda c: " ".join(c) or "evalgate")
def test_help_renders_plainly(run_cli, command):
    result = run_cli(*command, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: evalgate"), result.output
    for markup in ("<bool>", "╭", "│", "[bold", "[/"):
        assert markup not in result.output, f"{markup!r} in the help of `evalgate {' '.join(command)}`"
