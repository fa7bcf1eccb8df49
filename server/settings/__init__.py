"""Configuration, read once at start: every variable declared once in `variables.py`."""

from server.settings.declarations import SettingsError
from server.settings.formats import endpoint, normalise_database_url
from server.settings.variables import DECLARED, DEFAULT_CATALOGUE, Settings

__all__ = [
    "DECLARED",
    "DEFAULT_CATALOGUE",
    "Settings",
    "SettingsError",
    "endpoint",
    "normalise_database_url",
]
