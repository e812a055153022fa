"""legged_gym package.

`LEGGED_GYM_ROOT_DIR` (this folder: the default log root is its `logs/`) and `LEGGED_GYM_ENVS_DIR` keep
TWIST's names, for code written against TWIST's package (`from legged_gym import LEGGED_GYM_ROOT_DIR`).
"""

import os

LEGGED_GYM_ROOT_DIR = os.path.dirname(os.path.abspath(__file__))
LEGGED_GYM_ENVS_DIR = os.path.join(LEGGED_GYM_ROOT_DIR, "envs")
