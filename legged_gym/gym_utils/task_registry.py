"""Task registry: task name -> (environment class, env config class, train config class).

Tasks keep TWIST's names (`g1_priv_mimic`, `g1_stu_rl`, ...); they are registered by
`legged_gym.envs` when it is imported.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple


class Task(NamedTuple):
    env_class: type
    env_cfg_class: type
    train_cfg_class: type


class UnknownTaskError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks = {}  # type: Dict[str, Task]

    def register(self, name: str, env_class: type, env_cfg_class: type, train_cfg_class: type) -> None:
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
        """Fresh instances (env_cfg, train_cfg) of the task's config classes."""
        task = self.get(name)
        return task.env_cfg_class(), task.train_cfg_class()


task_registry = TaskRegistry()
