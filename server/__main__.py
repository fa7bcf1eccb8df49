"""The service's command line: `python -m server <command>`."""

from __future__ import annotations

import argparse
import sys

from server.cli import ops, review, simulate, tickets
from server.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server")
    subparsers = parser.add_subparsers(dest="command", required=True)
    simulate.register(subparsers)
    tickets.register(subparsers)
    ops.register(subparsers)
    review.register(subparsers)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env().resolve_secrets()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    result: int = args.handler(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
