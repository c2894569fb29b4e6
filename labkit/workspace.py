"""The learner's workspace: their own copies of the lessons and exercises.

The clone is the lab's source, never the learner's desk: saving a notebook there
would dirty it, stop ``git pull`` and change the outputs the tests compare. So
``labkit lab`` copies the lessons (``notebooks/``) to ``lessons/`` and the exercises
to ``exercises/`` in a workspace folder (``LABKIT_WORKSPACE``, by default
``~/docker-ipc-lab``) and opens JupyterLab there.

A later launch brings the lab's updates in without losing anything: a new file
is added; a file the learner never changed is refreshed; a file the learner did
change is left alone and the new version is put beside it, under a name that
says so. A hidden manifest (``.labkit/manifest.json``) remembers what was copied,
by content hash, which is how a learner's change is told from the lab's. Test
files (``conftest.py`` and the like) are never copied.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from labkit.atomic import write_atomically

# workspace folder -> the clone's folder it is copied from
SECTIONS = {"lessons": "notebooks", "exercises": "exercises"}
FIRST_LESSON = "lessons/00-start-here.ipynb"
MANIFEST = ".labkit/manifest.json"
FORMAT = "labkit-workspace/1"
# Never copied: the test command's files, caches and anything hidden.
EXCLUDE = (
    "conftest.py",
    "test_*.py",
    "*_test.py",
    "pytest.ini",
    "__pycache__",
    "*.pyc",
    ".*",
)


class WorkspaceError(RuntimeError):
    """The workspace cannot be used; the message says why and what to do."""


def source_root() -> Path:
    """The clone labkit was installed from (it holds notebooks/ and exercises/)."""
    root = Path(os.environ.get("LABKIT_SOURCE") or Path(__file__).resolve().parents[1])
    if not (root / "notebooks").is_dir():
        raise WorkspaceError(
            f"no lessons found: {root}/notebooks does not exist. labkit copies the lessons from "
            "the clone it was installed from (`pip install -e .` in the clone); set LABKIT_SOURCE "
            "to a clone of the lab if it was installed some other way"
        )
    return root


def workspace_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("LABKIT_WORKSPACE"):
        return Path(env["LABKIT_WORKSPACE"]).expanduser().absolute()
    return Path.home() / "docker-ipc-lab"


def _excluded(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in EXCLUDE)


def source_files(root: Path | None = None) -> dict[str, Path]:
    """What a workspace holds: its relative path -> the file in the clone it comes from."""
    root = root or source_root()
    found: dict[str, Path] = {}
    for section, folder in SECTIONS.items():
        base = root / folder
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not _excluded(d))
            for name in sorted(filenames):
                if _excluded(name):
                    continue
                path = Path(dirpath) / name
                found[f"{section}/{path.relative_to(base).as_posix()}"] = path
    return found


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class SyncReport:
    """What a sync did, file by file, to tell the learner in a few lines."""

    workspace: Path
    added: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    beside: list[tuple[str, str]] = field(default_factory=list)  # (learner's file, new version)
    deleted_kept: list[str] = field(default_factory=list)  # the learner deleted it; left so

    def lines(self) -> list[str]:
        out = []
        if self.added:
            out.append(f"added {len(self.added)} file(s): {_short(self.added)}")
        if self.refreshed:
            out.append(
                f"updated {len(self.refreshed)} file(s) you had not changed: "
                f"{_short(self.refreshed)}"
            )
        for yours, new in self.beside:
            out.append(f"{yours} has your changes, so it was kept; the lab's new version is {new}")
        for name in self.deleted_kept:
            out.append(f"{name} was deleted, so it stays deleted (`labkit reset` brings it back)")
        return out


def _short(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(names)
    return ", ".join(names[:3]) + f" and {len(names) - 3} more"


class Workspace:
    def __init__(self, path: Path, root: Path | None = None) -> None:
        self.path = path
        self.root = root or source_root()
        self._check_location()

    def _check_location(self) -> None:
        here, src = self.path.resolve(), self.root.resolve()
        if here == src or src in here.parents:
            raise WorkspaceError(
                f"the workspace {self.path} is inside the lab's clone {self.root}; learners' files "
                "must live elsewhere. Set LABKIT_WORKSPACE to a folder outside it, such as "
                "~/docker-ipc-lab"
            )
        if here in src.parents:
            raise WorkspaceError(
                f"the workspace {self.path} contains the lab's clone {self.root}; choose a folder "
                "of its own with LABKIT_WORKSPACE, such as ~/docker-ipc-lab"
            )

    # -- manifest ------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def _manifest(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # unreadable: every existing file then counts as the learner's (safe)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}
        files = data.get("files", {})
        return files if isinstance(files, dict) else {}

    def _save_manifest(self, files: dict[str, dict[str, str]]) -> None:
        self.manifest_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps({"format": FORMAT, "source": str(self.root), "files": files}, indent=1)
        write_atomically(self.manifest_path, text.encode() + b"\n")

    # -- sync ----------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self.manifest_path.exists()

    def sync(self) -> SyncReport:
        """Create the workspace, or bring the lab's updates in (nothing of the learner's lost)."""
        self._make_folder()
        report = SyncReport(self.path)
        files = self._manifest()
        for rel, src in source_files(self.root).items():
            self._sync_one(rel, src, files, report)
        self._save_manifest(files)
        return report

    def _make_folder(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create the workspace {self.path}: {exc.strerror}. Choose another folder "
                "with LABKIT_WORKSPACE"
            ) from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise WorkspaceError(
                f"the workspace {self.path} is not writable by you; fix its permissions or set "
                "LABKIT_WORKSPACE to a folder of your own"
            )

    def _sync_one(
        self, rel: str, src: Path, files: dict[str, dict[str, str]], report: SyncReport
    ) -> None:
        dest = self.path / rel
        new = digest(src)
        entry = files.get(rel, {})
        pristine = entry.get("sha256")
        if dest.is_symlink() or (dest.exists() and not dest.is_file()):
            report.beside.append((rel, self._put_beside(dest, src, new, entry)))
            files[rel] = entry
            return
        if not dest.exists():
            if pristine is None:
                self._copy(src, dest)
                files[rel] = {"sha256": new}
                report.added.append(rel)
            else:
                report.deleted_kept.append(rel)
            return
        current = digest(dest)
        if current == new:
            files[rel] = {"sha256": new}
        elif current == pristine:
            self._copy(src, dest, expect=current)
            files[rel] = {"sha256": new}
            report.refreshed.append(rel)
        elif new not in (pristine, entry.get("offered")):
            report.beside.append((rel, self._put_beside(dest, src, new, entry)))
            files[rel] = {**entry, "offered": new}

    def _put_beside(self, dest: Path, src: Path, new: str, entry: dict[str, str]) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        for n in range(1, 100):
            suffix = f".lab-update-{stamp}" + (f"-{n}" if n > 1 else "")
            candidate = dest.with_name(f"{dest.stem}{suffix}{dest.suffix}")
            if candidate.exists() and not candidate.is_symlink() and digest(candidate) == new:
                break
            if not candidate.exists() and not candidate.is_symlink():
                self._copy(src, candidate)
                break
        else:  # pragma: no cover - a hundred updates in one day
            raise WorkspaceError(f"too many updated copies of {dest} today; tidy them up first")
        return candidate.relative_to(self.path).as_posix()

    def _copy(self, src: Path, dest: Path, expect: str | None = None) -> None:
        """Copy atomically; with ``expect``, only if ``dest`` still has that content."""
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if expect is not None and digest(dest) != expect:
            raise WorkspaceError(f"{dest} changed while the lab was updating it; it was left alone")
        write_atomically(dest, src.read_bytes())

    # -- reset ---------------------------------------------------------------------

    def resolve(self, target: str) -> str:
        """The workspace path (relative) a learner means by ``04``, ``exercises/04`` ..."""
        known = source_files(self.root)
        text = target.strip().strip("/")
        section = "lessons"
        match = re.fullmatch(r"(lessons?|exercises?|ex|e|l)?[/ :-]?(\d{1,2})", text)
        if match:
            if match[1] and match[1].startswith("e"):
                section = "exercises"
            number = f"{int(match[2]):02d}-"
            hits = [
                rel
                for rel in known
                if rel.startswith(f"{section}/{number}")
                and rel.count("/") == 1
                and rel.endswith(".ipynb")
            ]
        else:
            hits = [rel for rel in known if rel == text or Path(rel).name == text]
        if len(hits) == 1:
            return hits[0]
        notebooks = sorted(r for r in known if r.endswith(".ipynb") and r.count("/") == 1)
        raise WorkspaceError(
            f"{target!r} does not name one lesson or exercise notebook. Use a lesson number "
            "(`labkit reset 04`), `exercises/04` for an exercise notebook, or one of: "
            + ", ".join(notebooks)
        )

    def reset(self, target: str) -> tuple[str, Path | None]:
        """Back the learner's copy up, then put a fresh one in place. (file, backup or None)"""
        rel = self.resolve(target)
        self._make_folder()
        src = source_files(self.root)[rel]
        dest = self.path / rel
        backup = None
        if dest.exists() or dest.is_symlink():
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S")
            backup = self.path / "backups" / stamp / rel
            backup.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            n = 1
            while backup.exists():
                n += 1
                backup = backup.with_name(f"{Path(rel).stem}-{n}{Path(rel).suffix}")
            if dest.is_symlink() or not dest.is_file():
                os.replace(dest, backup)
            else:
                shutil.copy2(dest, backup)
        write_atomically(dest, src.read_bytes())
        files = self._manifest()
        files[rel] = {"sha256": digest(dest)}
        self._save_manifest(files)
        return rel, backup


def iter_notebooks(path: Path) -> Iterator[Path]:
    for section in SECTIONS:
        yield from sorted((path / section).glob("*.ipynb"))
