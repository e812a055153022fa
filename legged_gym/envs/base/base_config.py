"""TWIST's configuration style: a config is a class whose nested classes group the settings.

`BaseConfig()` instantiates every nested class recursively, so that an instance can be edited
(play-mode overrides, CLI flags, tests) without touching the class that other configs inherit from.
"""

from __future__ import annotations

import inspect


class BaseConfig:
    def __init__(self) -> None:
        self.init_member_classes(self)

    @staticmethod
    def init_member_classes(obj) -> None:
        """Replace each nested class attribute of `obj` (public names) by an instance of it."""
        for key in dir(obj):
            if key.startswith("__"):
                continue
            var = getattr(obj, key)
            if inspect.isclass(var):
                instance = var()
                setattr(obj, key, instance)
                BaseConfig.init_member_classes(instance)
