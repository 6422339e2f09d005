"""The launcher: one process supervisor per host, started from the startup config."""

from common.launcher.agent import Launcher
from common.launcher.lock import LauncherRunning
from common.launcher.plan import HostPlan, SecretError

__all__ = ["HostPlan", "Launcher", "LauncherRunning", "SecretError"]
