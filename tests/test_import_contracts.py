"""The arrows point one way (DESIGN.md §3): the import-linter contracts hold on the tree, and
they do fail when a module breaks them (a check that cannot fail checks nothing)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _copy_tree(tmp_path: Path) -> Path:
    for package in ("bot", "handlers", "storage", "templates"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env={"PYTHONPATH": str(tree)},
                          capture_output=True, text=True, timeout=120)


def _break(tree: Path, module: str, line: str) -> None:
    path = tree / module
    source = path.read_text()
    marker = "from __future__ import annotations\n"
    path.write_text(source.replace(marker, marker + line + "\n", 1))


def test_the_contracts_hold(tmp_path: Path) -> None:
    done = _lint(_copy_tree(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("storage/tables.py", "import bot.lifecycle  # noqa", "handlers > bot > storage"),
    ("bot/releases.py", "import handlers.slack  # noqa", "handlers > bot > storage"),
    ("bot/lifecycle.py", "import sqlalchemy  # noqa", "The pure rules"),
    ("bot/checklist.py", "import storage.tables  # noqa", "The pure rules"),
    ("bot/approvals.py", "import slack_sdk  # noqa", "Use cases import nothing from Slack"),
])
def test_a_broken_arrow_fails_the_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    tree = _copy_tree(tmp_path)
    _break(tree, module, line)
    done = _lint(tree)
    assert done.returncode != 0
    assert f"{contract}" in done.stdout and "BROKEN" in done.stdout
