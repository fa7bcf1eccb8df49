"""The command line: `python -m server <command>` (server/__main__.py dispatches here)."""

from __future__ import annotations

from server.cli import ops_commands, review_commands, simulate_commands, ticket_commands

__all__ = [
    "ops_commands",
    "review_commands",
    "simulate_commands",
    "ticket_commands",
]
