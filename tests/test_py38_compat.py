"""The code that the Isaac Gym path imports must stay Python 3.8 compatible (Isaac Gym Preview 4
runs on Python 3.8). Checked statically with vermin, which reads the syntax and the standard
library calls of every file and reports the minimum Python version they need."""

import subprocess
import shutil

from conftest import REPO_ROOT

ISAACGYM_PATH_PACKAGES = ["legged_gym", "rsl_rl", "pose", "deploy_real"]


def test_isaacgym_path_packages_are_python38_compatible():
    cmd = [shutil.which("vermin") or "vermin", "--target=3.8-", "--violations", "--no-tips", "--eval-annotations"]
    result = subprocess.run(cmd + ISAACGYM_PATH_PACKAGES, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, "Python 3.8 incompatibilities:\n" + result.stdout + result.stderr
