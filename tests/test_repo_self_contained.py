"""The repository explains itself: no tracked file outside docs/ cites documents that are not in the
repository (the design notes and the reference description this project was written from, or the
development folder beside the checkout). Code and tests point to docs/ instead, or say the thing
itself."""

import re
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT

# Written in pieces so that this file does not match itself.
FORBIDDEN_STRINGS = tuple(a + b for a, b in (("SPEC", ".md"), ("DESIGN", ".md"), ("..", "/shared")))
FORBIDDEN_PATTERNS = (re.compile(r"\bSPEC \d"), re.compile(r"\bORIG\b"))
EXEMPT_DIRS = ("docs/",)


def tracked_files():
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode("utf-8").split("\0") if p and not p.startswith(EXEMPT_DIRS)]


def read_text(path):
    """The file's text, or None for binary files (a NUL byte or not UTF-8) and missing files."""
    full = REPO_ROOT / path
    if not full.is_file():
        return None
    data = full.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_citations_of_documents_outside_the_repository():
    hits = []
    files = tracked_files()
    assert files, "git ls-files listed nothing"
    for path in files:
        text = read_text(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            if any(s in line for s in FORBIDDEN_STRINGS) or any(p.search(line) for p in FORBIDDEN_PATTERNS):
                hits.append("{}:{}: {}".format(path, lineno, line.strip()))
    assert not hits, "cite docs/ (or say the thing itself) instead of:\n" + "\n".join(hits)
