"""`--set GROUP.NAME=VALUE`: change any setting of a task's configs from the command line.

    python legged_gym/scripts/train.py --task g1_priv_mimic ... --set motion.adaptive_sampling=true \
        --set algorithm.learning_rate=1e-4 --set rewards.scales.tracking_keybody_pos=3.0

GROUP is a settings group of the task's env config (env, motion, rewards, domain_rand, ...) or of
its train config (policy, algorithm, runner); deeper paths name nested groups. VALUE is read as
YAML (true, 0.5, [1, 2], null, text; also 1e-4) and must have the type of the setting it replaces:
a whole number is accepted where a float is expected, a setting that is None takes any value, and a
text setting also takes true / false (the settings that are a word or a switch, such as "auto").
A wrong path or type stops with one line naming the setting and what it expects.

`--set_file FILE.yaml` gives many settings at once (a recipe): a YAML mapping of GROUP.NAME (or
nested GROUP: {NAME: ...} mappings) to values, read into the same GROUP.NAME=VALUE items before the
command's own --set items, which therefore win. Recipes measured in this project are in
`legged_gym/recipes/`.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Sequence, Tuple

import yaml


class OverrideError(ValueError):
    """A --set item that names no setting, or gives a value of the wrong type."""


def parse_overrides(items: Sequence[str]) -> List[Tuple[List[str], Any, str]]:
    """(path, value, item) of each GROUP.NAME=VALUE item."""
    out = []
    for item in items or ():
        key, sep, text = item.partition("=")
        path = key.strip().split(".")
        if not sep or len(path) < 2 or not all(path):
            raise OverrideError("--set {}: expected GROUP.NAME=VALUE (e.g. motion.adaptive_sampling=true)".format(item))
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        out.append((path, value, item))
    return out


def set_flags(items: Sequence[str]) -> str:
    """--set items as a command line writes them: "--set a.b=1 --set c=2" (for messages)."""
    return " ".join("--set " + item for item in items)


def read_set_file(path: str) -> List[str]:
    """The GROUP.NAME=VALUE items of a --set_file (a YAML mapping; nested mappings are groups), in file order."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise OverrideError("--set_file {}: cannot read it ({})".format(path, e.strerror or e)) from None
    except yaml.YAMLError as e:
        raise OverrideError("--set_file {}: not valid YAML ({})".format(path, str(e).splitlines()[0])) from None
    if not isinstance(data, dict) or not data:
        raise OverrideError(
            "--set_file {}: expected a mapping of GROUP.NAME: VALUE (e.g. 'motion.adaptive_sampling: true'), "
            "got {}".format(path, type(data).__name__ if data is not None else "an empty file")
        )
    items: List[str] = []

    def walk(prefix: str, mapping: Dict[Any, Any]) -> None:
        for key, value in mapping.items():
            name = "{}.{}".format(prefix, key) if prefix else str(key)
            if isinstance(value, dict):
                walk(name, value)
            else:
                items.append("{}={}".format(name, json.dumps(value)))

    walk("", data)
    try:
        parse_overrides(items)
    except OverrideError as e:  # a key that is not GROUP.NAME
        raise OverrideError("--set_file {}: {}".format(path, e)) from None
    return items


def _is_group(obj) -> bool:
    return hasattr(obj, "__dict__") and not isinstance(obj, type) and not callable(obj)


def _settings(group) -> List[str]:
    return sorted(k for k in dir(group) if not k.startswith("_") and not callable(getattr(group, k)))


def _converted(item: str, current: Any, value: Any) -> Any:
    if current is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(current, str):
        if isinstance(value, bool):  # a setting of a word or a switch ("auto" / true / false)
            return value
        return value if isinstance(value, str) else str(value)
    elif isinstance(current, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return type(current)(value)
    elif type(value) is type(current):
        return value
    raise OverrideError(
        "--set {}: expected a {} like the current value {!r}, got {!r}".format(
            item, type(current).__name__, current, value
        )
    )


def apply_overrides(
    items: Sequence[str], cfg, other_cfg=None, cfg_name: str = "env", other_name: str = "train"
) -> List[str]:
    """Apply the items whose group belongs to `cfg` (in place); items of `other_cfg` are left for
    it; an item of neither raises OverrideError. Returns the items applied."""
    applied = []
    for path, value, item in parse_overrides(items):
        if not _is_group(getattr(cfg, path[0], None)):
            if other_cfg is not None and _is_group(getattr(other_cfg, path[0], None)):
                continue
            groups = [k for k in _settings(cfg) if _is_group(getattr(cfg, k))]
            others = (
                [k for k in _settings(other_cfg) if _is_group(getattr(other_cfg, k))] if other_cfg is not None else []
            )
            raise OverrideError(
                "--set {}: no settings group {!r} in the {} config ({}){}".format(
                    item,
                    path[0],
                    cfg_name,
                    ", ".join(groups),
                    " or the {} config ({})".format(other_name, ", ".join(others)) if others else "",
                )
            )
        group = cfg
        for depth, name in enumerate(path[:-1]):
            child = getattr(group, name, None)
            if not _is_group(child):
                raise OverrideError(
                    "--set {}: {!r} is not a settings group (in {})".format(
                        item, ".".join(path[: depth + 1]), ", ".join(_settings(group))
                    )
                )
            group = child
        name = path[-1]
        if not hasattr(group, name):
            raise OverrideError(
                "--set {}: no setting {!r} in {} ({})".format(
                    item, name, ".".join(path[:-1]), ", ".join(_settings(group))
                )
            )
        current = getattr(group, name)
        if _is_group(current):
            raise OverrideError(
                "--set {}: {!r} is a group of settings; name one of them: {}".format(
                    item, ".".join(path), ", ".join(_settings(current))
                )
            )
        setattr(group, name, _converted(item, current, value))
        applied.append(item)
    return applied


#: Groups whose settings do not change how a trained policy is played (eval.py, play.py).
TRAINING_ONLY_GROUPS = ("rewards",)


def effective_overrides(items: Sequence[str]) -> Dict[Tuple[str, ...], Tuple[Any, str]]:
    """Path -> (value, item) of the item that takes effect for each path of `items`: the last one, as
    `apply_overrides` applies them in order (a recipe file's value, then a --set after it)."""
    out: Dict[Tuple[str, ...], Tuple[Any, str]] = {}
    for path, value, item in parse_overrides(items):
        out.pop(tuple(path), None)  # keep the order of the effective items
        out[tuple(path)] = (value, item)
    return out


#: what `setting_value` returns for a path a config does not have
MISSING = object()


def setting_value(cfg, path: Sequence[str]) -> Any:
    """The value of the setting at `path` (e.g. ("motion", "vel_smooth_window")) in `cfg`, MISSING if none."""
    current = cfg
    for name in path:
        current = getattr(current, name, MISSING)
        if current is MISSING:
            break
    return current


def has_setting(cfg, path: Sequence[str]) -> bool:
    """Whether `cfg` has the setting at `path`."""
    return setting_value(cfg, path) is not MISSING


def unrepeated_env_items(trained: Sequence[str], given: Sequence[str], env_cfg) -> List[str]:
    """The --set items of `env_cfg`'s groups (rewards excepted) that took effect in a run's training
    and that a command with `given` leaves at another value: `given`'s value, else `env_cfg`'s (the task's
    default). The last item of a path wins on both sides; values compare as values (1 and 1.0 agree).
    What play.py / eval.py / a student's distillation warn about."""
    given_values = {path: value for path, (value, _) in effective_overrides(given).items()}
    out = []
    for path, (value, item) in effective_overrides(trained).items():
        if path[0] in TRAINING_ONLY_GROUPS or not _is_group(getattr(env_cfg, path[0], None)):
            continue
        current = given_values[path] if path in given_values else setting_value(env_cfg, path)
        if current != value:
            out.append(item)
    return out
