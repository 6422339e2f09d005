"""The original's env helpers: each script reads its own variables."""

import os


def get_env(name, default=None):
    return os.environ.get(name, default)


def get_int(name, default):
    return int(os.environ.get(name, default))
