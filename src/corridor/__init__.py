"""Corridor: the shared digital platform of the Trans-Caspian International Transport Route."""

__version__ = "0.1.0"
