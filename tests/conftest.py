"""Shared test fixtures: the real retargeted clips in ../shared/data (skipped when absent)."""
try:  # Isaac Gym must be imported before torch; a no-op where it is not installed
    from isaacgym import gymapi  # noqa: F401
except ImportError:
    pass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
LAFAN_DIR = SHARED_DATA / "lafan_g1"


@pytest.fixture(scope="session")
def lafan_dir() -> Path:
    """Folder of the real LAFAN1 G1 CSV clips; the test is skipped when ../shared/data is absent."""
    if not LAFAN_DIR.is_dir():
        pytest.skip("real clips not available ({} absent)".format(LAFAN_DIR))
    return LAFAN_DIR
