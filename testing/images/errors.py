"""The one error type of the images package."""

from __future__ import annotations


class ImageError(RuntimeError):
    """An image could not be chosen or built; the message is one actionable line."""
