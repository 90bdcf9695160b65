"""Local development: everything works with no environment variables."""

from .base import *  # noqa: F403
