"""The command line: `python -m server <command>` (server/__main__.py dispatches here)."""

from __future__ import annotations

from server.cli import (
    backup_commands,
    config_commands,
    ops_commands,
    review_commands,
    simulate_commands,
    ticket_commands,
)

__all__ = [
    "backup_commands",
    "config_commands",
    "ops_commands",
    "review_commands",
    "simulate_commands",
    "ticket_commands",
]
