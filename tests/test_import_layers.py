"""No two parts of the code import each other: the subpackages of legged_gym (`envs`, `gym_utils`,
`scripts`, `simulator`, and the leaf module `legged_gym.utils`) and the other packages. An import
inside a function counts too. The model files' folder `assets/` holds no code that imports them."""

import ast
import itertools

from conftest import REPO_ROOT

PACKAGES = ("legged_gym", "rsl_rl", "pose", "cmg_workspace", "deploy_real")


def part(module):
    """The part a module belongs to: a subpackage or module of legged_gym, else its top-level package."""
    names = module.split(".")
    return ".".join(names[:2]) if names[0] == "legged_gym" and len(names) > 1 else names[0]


def imported_modules(path, module):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module
            yield base
            yield from (base + "." + alias.name for alias in node.names)


def edges(root):
    found = {}
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        module = module[: -len(".__init__")] if module.endswith(".__init__") else module
        for target in imported_modules(path, module):
            if target.split(".")[0] in PACKAGES and target != "legged_gym" and part(target) != part(module):
                found.setdefault((part(module), part(target)), set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def test_no_two_parts_import_each_other():
    found = {}
    for package in PACKAGES:
        found.update(edges(REPO_ROOT / package))
    circles = [
        "{} <-> {} ({}; {})".format(a, b, ", ".join(sorted(found[a, b])), ", ".join(sorted(found[b, a])))
        for a, b in itertools.combinations(sorted({p for edge in found for p in edge}), 2)
        if (a, b) in found and (b, a) in found
    ]
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_assets_import_no_package():
    found = edges(REPO_ROOT / "assets")
    assert not found, found
