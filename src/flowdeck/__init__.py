"""Flowdeck: a self-hosted workflow platform."""

__version__ = "0.1.0"
