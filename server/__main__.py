"""`python -m server <command>`: the service's command line. Each area registers its own
subcommands (`register(subparsers)`), and each sets `func(args) -> exit code`."""

from __future__ import annotations

import argparse
import sys

from server import cli_tickets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="payment-status tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli_tickets.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
