"""Confide: self-hosted live chat whose privacy guarantees are enforced by the software."""

__version__ = "0.1.0"
