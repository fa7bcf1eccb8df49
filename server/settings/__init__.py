"""Configuration, read once at start: every variable declared once in `variables.py`."""

from server.settings.declarations import SettingsError
from server.settings.formats import normalise_database_url
from server.settings.variables import DECLARED, Settings

__all__ = ["DECLARED", "Settings", "SettingsError", "normalise_database_url"]
