"""Import Isaac Gym before torch when it may be used (it refuses to import after torch).

Imported first by the scripts of this folder; a no-op when `--sim mjwarp` is asked for or Isaac Gym
is not installed. Imports no torch itself.
"""

from __future__ import annotations

import sys


def wants_isaacgym(argv) -> bool:
    """False when the command line picks another backend (`--sim mjwarp` / `--sim=mjwarp`)."""
    argv = list(argv)
    for i, a in enumerate(argv):
        if a == "--sim" and i + 1 < len(argv):
            return argv[i + 1] == "isaacgym"
        if a.startswith("--sim="):
            return a.split("=", 1)[1] == "isaacgym"
    return True  # default backend: isaacgym when it imports


if wants_isaacgym(sys.argv[1:]):
    try:
        import isaacgym  # noqa: F401
    except ImportError:
        pass
