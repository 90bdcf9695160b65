"""Local development: everything works with no environment variables."""

from .base import *  # noqa: F403

# Demo data (manage.py seed_demo) is for development databases only.
DEMO_DATA_ALLOWED = True
