"""Kizuki: fix a connected product before its customer notices."""

__version__ = "0.1.0"
