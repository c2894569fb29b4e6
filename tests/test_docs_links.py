"""What the README, the lessons and the exercises promise exists: no lesson "in preparation",
and every link to a notebook leads to one (as the workspace lays them out: the repository's
notebooks/ is the workspace's lessons/)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("[0-9][0-9]-*.ipynb"))
PAGES = [
    ROOT / "README.md",
    ROOT / "exercises" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\]\(([^)\s]+\.ipynb)\)")
UNFINISHED = re.compile(r"in preparation|coming soon|not written yet", re.I)


def _texts() -> list[tuple[Path, str]]:
    found = [(page, page.read_text(encoding="utf-8")) for page in PAGES]
    for path in [*NOTEBOOKS, *EXERCISES]:
        nb = nbformat.read(path, as_version=4)
        found.append((path, "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")))
    return found


def _in_repository(page: Path, link: str) -> Path:
    """Where a relative link from ``page`` leads, with lessons/ read as notebooks/."""
    target = (page.parent / link).resolve()
    parts = list(target.relative_to(ROOT.resolve()).parts)
    if parts and parts[0] == "lessons":
        parts[0] = "notebooks"
    return ROOT.joinpath(*parts)


@pytest.mark.parametrize(("path", "text"), _texts(), ids=lambda v: getattr(v, "name", ""))
def test_nothing_is_promised_for_later(path: Path, text: str) -> None:
    found = UNFINISHED.search(text)
    assert found is None, f"{path.name}: {text[max(0, found.start() - 60) : found.end()]!r}"


@pytest.mark.parametrize(("path", "text"), _texts(), ids=lambda v: getattr(v, "name", ""))
def test_every_notebook_link_leads_to_a_notebook(path: Path, text: str) -> None:
    for link in LINK.findall(text):
        if "://" in link:
            continue
        assert _in_repository(path, link).is_file(), (
            f"{path.name} links to {link}, which is missing"
        )


def test_every_lesson_is_on_the_map() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = nbformat.read(ROOT / "notebooks" / "00-start-here.ipynb", as_version=4)
    map_cell = next(c.source for c in start.cells if "## 4. The map" in c.source)
    for path in NOTEBOOKS:
        assert f"(notebooks/{path.name})" in readme, f"the README's table does not link {path.name}"
        if path.name != "00-start-here.ipynb":
            assert f"({path.name})" in map_cell, f"lesson 00's map does not link {path.name}"
