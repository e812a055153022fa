"""Static check of the Isaac Gym backend against the Isaac Gym Preview 4 API (docs/decisions.md D1).

Isaac Gym cannot be installed here or in CI, so `legged_gym/simulator/isaacgym_backend.py` is
type-checked with mypy (strict) against the `isaacgym-stubs` distribution from PyPI (pinned in the
`dev` extra). The published stubs need a small patch before a type checker reads them; the test
applies it to a copy under tmp_path (nothing is vendored into the repo):

- the stub-only package `isaacgym-stubs/` becomes a plain stub package `isaacgym/` on mypy_path,
  with an `__init__.pyi` (the wheel ships an `__init__.py`);
- `def lambda(self)` (properties of RigidContact/SoftContact) is a syntax error: renamed `lambda_`;
- `gymtorch` has no stubs: a tiny `gymtorch.pyi` declares `wrap_tensor` and `unwrap_tensor`.

Errors inside the stubs themselves (undefined `capsule`/`dtype` names, numpy generics) are ignored;
torch, numpy and the project's own modules are followed silently, so calls into them are typed.
A second test checks that the setup is meaningful: a misspelled gymapi name and a wrong argument
type in a copy of the backend must fail the check.
"""

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKEND = REPO_ROOT / "legged_gym" / "simulator" / "isaacgym_backend.py"

GYMTORCH_STUB = """\
from typing import Optional, Sequence

import torch

from . import gymapi

def wrap_tensor(
    gym_tensor: gymapi.Tensor, offsets: Optional[Sequence[int]] = ..., counts: Optional[Sequence[int]] = ...
) -> torch.Tensor: ...
def unwrap_tensor(torch_tensor: torch.Tensor) -> gymapi.Tensor: ...
"""

MYPY_INI = """\
[mypy]
mypy_path = {stubs},{repo}
strict = True
follow_imports = silent
show_error_codes = True

[mypy-isaacgym.*]
ignore_errors = True
"""


@pytest.fixture(scope="module")
def mypy_setup(tmp_path_factory):
    """(config file, cache dir) with the patched isaacgym stubs; skipped without the dev extra."""
    pytest.importorskip("mypy", reason="mypy is in the dev extra (pip install -e '.[dev]', Python >= 3.10)")
    try:
        dist = importlib.metadata.distribution("isaacgym-stubs")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("isaacgym-stubs is not installed (pip install -e '.[dev]')")
    gymapi = [f for f in dist.files or () if f.as_posix() == "isaacgym-stubs/gymapi.pyi"]
    assert gymapi, "isaacgym-stubs {} has no isaacgym-stubs/gymapi.pyi".format(dist.version)
    text = Path(dist.locate_file(gymapi[0])).read_text(encoding="utf-8")
    assert "class Gym:" in text
    text = re.sub(r"\bdef lambda\(", "def lambda_(", text)
    root = tmp_path_factory.mktemp("mypy")
    pkg = root / "stubs" / "isaacgym"
    pkg.mkdir(parents=True)
    (pkg / "gymapi.pyi").write_text(text, encoding="utf-8")
    (pkg / "__init__.pyi").write_text("", encoding="utf-8")
    (pkg / "gymtorch.pyi").write_text(GYMTORCH_STUB, encoding="utf-8")
    config = root / "mypy.ini"
    config.write_text(MYPY_INI.format(stubs=root / "stubs", repo=REPO_ROOT), encoding="utf-8")
    return config, root / "cache"


def run_mypy(setup, target):
    config, cache = setup
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(cache), str(target)]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_isaacgym_backend_typechecks_against_isaacgym_stubs(mypy_setup):
    result = run_mypy(mypy_setup, BACKEND)
    output = result.stdout + result.stderr
    assert result.returncode == 0, "mypy found problems in {}:\n{}".format(BACKEND.name, output)
    assert "Success: no issues found in 1 source file" in output, output


def test_typecheck_catches_wrong_isaacgym_api_use(mypy_setup, tmp_path):
    source = BACKEND.read_text(encoding="utf-8")
    mutations = [
        ("gymapi.SIM_PHYSX", "gymapi.SIM_PHYSICS"),  # no such gymapi attribute
        ("create_env(self.sim, origin, origin, per_row)", "create_env(self.sim, origin, origin, str(per_row))"),
    ]
    for old, new in mutations:
        assert source.count(old) == 1, "mutation target {!r} not found once in the backend".format(old)
        source = source.replace(old, new)
    mutant = tmp_path / "isaacgym_backend_mutant.py"
    mutant.write_text(source, encoding="utf-8")
    result = run_mypy(mypy_setup, mutant)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert re.search(r'Module has no attribute "SIM_PHYSICS".*\[attr-defined\]', output), output
    assert re.search(r'Argument 4 to "create_env" of "Gym" has incompatible type "str"; expected "int"', output), output
    assert "Found 2 errors in 1 file" in output, output
