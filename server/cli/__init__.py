"""The command line: `python -m server <command>` (server/__main__.py dispatches here)."""
