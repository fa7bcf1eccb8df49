"""The service's command line: `python -m server <command>`."""

from __future__ import annotations

import argparse
import sys

from server.cli import (
    backup_commands,
    config_commands,
    ops_commands,
    review_commands,
    simulate_commands,
    ticket_commands,
)
from server.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server")
    subparsers = parser.add_subparsers(dest="command", required=True)
    simulate_commands.register(subparsers)
    ticket_commands.register(subparsers)
    ops_commands.register(subparsers)
    review_commands.register(subparsers)
    config_commands.register(subparsers)
    backup_commands.register(subparsers)
    args = parser.parse_args(argv)
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
