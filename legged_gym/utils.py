"""What the environments (`legged_gym.envs`) and the training utilities (`legged_gym.gym_utils`) share:
config classes to dicts, and the table of tasks.

This module imports nothing from legged_gym, so that neither subpackage imports the other for these:
`legged_gym.envs` registers its tasks in a `TaskTable`, and `legged_gym.gym_utils.task_registry` builds
environments and learners from that table.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, NamedTuple


def class_to_dict(obj) -> dict:
    """Nested config classes/instances to plain dicts (for logging and saving)."""
    if not hasattr(obj, "__dict__"):
        return obj
    out: Dict[str, Any] = {}
    for key in dir(obj):
        if key.startswith("_"):
            continue
        val = getattr(obj, key)
        if callable(val) and not isinstance(val, type):
            continue
        if isinstance(val, list):
            out[key] = [class_to_dict(v) for v in val]
        else:
            out[key] = class_to_dict(val)
    return out


class Task(NamedTuple):
    """A task's environment class and its configs: classes, or instances as TWIST registers them."""

    env_class: type
    env_cfg_class: Any
    train_cfg_class: Any


class UnknownTaskError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class TaskTable:
    """Task name -> (environment class, env config class, train config class)."""

    def __init__(self) -> None:
        self._tasks: Dict[str, Task] = {}

    def register(self, name: str, env_class: type, env_cfg_class: Any, train_cfg_class: Any) -> None:
        """The configs are classes, or instances (TWIST's `register(name, Env, Cfg(), CfgPPO())`), of which
        `get_cfgs` gives a copy each time."""
        if name in self._tasks:
            raise ValueError("task {!r} is already registered".format(name))
        self._tasks[name] = Task(env_class, env_cfg_class, train_cfg_class)

    @property
    def task_names(self) -> List[str]:
        return sorted(self._tasks)

    def get(self, name: str) -> Task:
        if name not in self._tasks:
            raise UnknownTaskError(
                "unknown task {!r}; registered tasks: {}".format(name, ", ".join(self.task_names) or "none")
            )
        return self._tasks[name]

    def get_cfgs(self, name: str):
        """Fresh instances (env_cfg, train_cfg) of the task's configs (new ones of a class, copies of an
        instance)."""
        task = self.get(name)
        configs = (task.env_cfg_class, task.train_cfg_class)
        return tuple(c() if isinstance(c, type) else copy.deepcopy(c) for c in configs)
