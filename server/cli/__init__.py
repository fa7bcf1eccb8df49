"""The command line: `python -m server <command>` (server/__main__.py dispatches here)."""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from server.cli import (
        backup_commands,
        config_commands,
        ops_commands,
        review_commands,
        simulate_commands,
        ticket_commands,
    )


def __getattr__(name: str) -> object:
    """Each command module when first used (PEP 562): imported here, every command paid for
    every other's imports (server/__main__.py imports only the one it runs)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")


__all__ = [
    "backup_commands",
    "config_commands",
    "ops_commands",
    "review_commands",
    "simulate_commands",
    "ticket_commands",
]
