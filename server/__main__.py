"""The service's command line: `python -m server <command>`."""

from __future__ import annotations

import argparse
import importlib
import sys

from server.settings import Settings, SettingsError

# The module of server/cli/ that adds each command, in the order `--help` lists them. A
# command is parsed and run with its own module alone: the modules import what their
# commands need, the whole service for some, and importing them all made every command
# (`migrate`, `check-config`, `verify-ticket`) load the whole service first. With no known
# command first (`--help`, a misspelt one) every module is imported, to list them all.
COMMANDS = {
    "simulate": "simulate_commands",
    "verify-ticket": "ticket_commands",
    "deliver-emails": "ticket_commands",
    "list-callbacks": "ops_commands",
    "replay-callback": "ops_commands",
    "complete-order": "review_commands",
    "check-config": "config_commands",
    "backup": "backup_commands",
    "migrate": "backup_commands",
}


def parser_for(command: str | None) -> argparse.ArgumentParser:
    """The parser for `command` (every command's when it is none of them)."""
    parser = argparse.ArgumentParser(prog="python -m server")
    subparsers = parser.add_subparsers(dest="command", required=True)
    if command not in COMMANDS:
        for module in dict.fromkeys(COMMANDS.values()):
            importlib.import_module(f"server.cli.{module}").register(subparsers)
        return parser
    importlib.import_module(f"server.cli.{COMMANDS[command]}").register(subparsers)
    # Every command in the usage line, as argparse writes it with all of them added: an
    # error in this command's options prints the same usage as before.
    subparsers.metavar = "{" + ",".join(COMMANDS) + "}"
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser_for(argv[0] if argv else None).parse_args(argv)
    try:
        settings = Settings.from_env().resolve_secrets()
    except SettingsError as refused:
        for problem in refused.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    result: int = args.handler(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
