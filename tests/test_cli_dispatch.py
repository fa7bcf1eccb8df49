"""`python -m server <command>` loads the module that adds the command, and only it
(server/__main__.py): `migrate` in a platform's release phase must not load the service."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from server import cli
from server.__main__ import COMMANDS, parser_for


def commands_added_by(module: str) -> list[str]:
    subparsers = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"server.cli.{module}").register(subparsers)
    return list(subparsers.choices)


def test_each_command_is_looked_for_in_the_module_that_adds_it() -> None:
    # A command added to a module but not to COMMANDS would be reachable only after --help.
    assert sorted(set(COMMANDS.values())) == sorted(cli.__all__)
    for module in cli.__all__:
        assert commands_added_by(module) == [name for name, home in COMMANDS.items() if home == module]


def test_a_command_s_usage_line_names_every_command_as_help_does() -> None:
    # What an error in a command's options prints: the same whichever modules were loaded.
    every = parser_for(None).format_usage()
    assert ",".join(COMMANDS) in every
    assert all(parser_for(command).format_usage() == every for command in COMMANDS)


def test_a_command_that_needs_only_the_store_does_not_load_the_service() -> None:
    # A fresh interpreter: this one has imported everything already.
    probe = (
        "import sys; from server.__main__ import parser_for; parser_for('migrate');"
        "print(sorted(m for m in ('server.app', 'server.fulfilment', 'redis', 'httpx') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
