#!/usr/bin/env bash
# Binder's install steps, as repo2docker runs them, in a clean venv instead of an image:
#
#   bash .ci/binder_check.sh
#
# 1. a fresh venv from Debian's Python 3.11 (.binder/runtime.txt asks Binder for 3.11),
# 2. pip install -r .binder/requirements.txt (nothing else: the top-level requirements.txt
#    is not there to hide a missing package),
# 3. the repository's tracked files copied into a fresh $HOME, which on Binder *is* the
#    repository's folder, and .binder/postBuild run there,
# 4. .binder/start run as Binder runs it, in front of a command that executes lesson 00 from
#    the learner's workspace (nbclient) and checks that it talked to the lab engine.
# repo2docker's reading of .binder/ is checked by tests/test_binder.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
python="${BINDER_CHECK_PYTHON:-/usr/bin/python3}"
work="$(mktemp -d /tmp/labkit-binder-XXXXXX)"
venv="$work/venv"
home="$work/home"
trap 'HOME="$home" "$venv/bin/labkit" engine stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "binder check: a clean venv in $venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r .binder/requirements.txt

echo "binder check: postBuild in a copy of the repository at \$HOME"
mkdir -p "$home"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$home"
(cd "$home" && env -i HOME="$home" PATH="$venv/bin:/usr/bin:/bin" NB_PYTHON_PREFIX="$venv" \
    bash .binder/postBuild)

echo "binder check: start, then lesson 00 from the workspace"
cat >"$work/lesson00.py" <<'PY'
import os, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient

workspace = Path(os.environ["LABKIT_WORKSPACE"])
notebook = workspace / "lessons/00-start-here.ipynb"
assert notebook.is_file(), f"start did not fill the workspace: {notebook} is missing"
assert os.environ["LABKIT_ENGINE"] == "lab"
nb = nbformat.read(notebook, as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}).execute()
text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
assert "kind:        the lab engine" in text, text[:2000]
print(f"binder check: lesson 00 ran on the lab engine, from {notebook}")
PY
(cd "$home" && env -i HOME="$home" PATH="$venv/bin:/usr/bin:/bin" NB_PYTHON_PREFIX="$venv" \
    bash .binder/start python "$work/lesson00.py")
