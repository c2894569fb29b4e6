#!/usr/bin/env bash
# Install the lab once for every learner of a workshop hub (run as root; safe to run again).
#
#   bash docs/hub/install.sh [PREFIX]        # PREFIX defaults to /opt/labkit-hub
#
# It builds, under PREFIX, everything the hub and each learner's server run:
#   PREFIX/venv    a Python environment made from Debian's /usr/bin/python3 (a Python that
#                  lives in root's home, such as pyenv's, cannot be run by learners), holding
#                  JupyterHub, the idle culler, nbgitpuller, and the lab with JupyterLab
#   PREFIX/lab     the lab's own files (lessons, exercises, docs/hub), copied from this clone:
#                  learners' workspaces are filled from here, so the clone itself may live
#                  where learners cannot read
#   PREFIX/proxy   configurable-http-proxy, from npm
# and the Debian packages the lessons use (the docker CLI, curl, socat, a static busybox).
# Everything is owned by root and readable by all. Run it again after `git pull` to update
# the lab: the next time a learner's server starts, their workspace takes the new lessons in
# without losing their own changes.
set -euo pipefail
PREFIX="${1:-/opt/labkit-hub}"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${LABKIT_HUB_PYTHON:-/usr/bin/python3}"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
umask 022

say() { printf '== %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run this as root (it writes $PREFIX and installs Debian packages)" >&2
    exit 1
fi

# --- Debian packages ------------------------------------------------------------------
need=()
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v npm >/dev/null || need+=(nodejs npm)
command -v docker >/dev/null || need+=(docker.io)
command -v curl >/dev/null || need+=(curl)
command -v socat >/dev/null || need+=(socat)
command -v git >/dev/null || need+=(git)
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    say "Debian packages: ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- the lab's files --------------------------------------------------------------------
say "the lab's files from $SRC into $PREFIX/lab"
mkdir -p "$PREFIX"
chmod 0755 "$PREFIX"
staging="$(mktemp -d "$PREFIX/.lab-new.XXXXXX")"
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # The files git tracks, as they are in the working tree (committed or not), nothing else:
    # no .venv, no caches, no learner's leftovers.
    (cd "$SRC" && git ls-files -z --cached | while IFS= read -r -d '' f; do
        [ -e "$f" ] && printf '%s\0' "$f"
    done | tar --null -T - -cf -) | tar -xf - -C "$staging"
else
    tar -C "$SRC" --exclude=.git --exclude=.venv --exclude='__pycache__' -cf - . |
        tar -xf - -C "$staging"
fi
chmod -R u=rwX,go=rX "$staging"
chmod 0755 "$staging"
if [ -d "$PREFIX/lab" ]; then
    mv "$PREFIX/lab" "$PREFIX/.lab-old.$$"
fi
mv "$staging" "$PREFIX/lab"
rm -rf "$PREFIX/.lab-old.$$"

# --- the Python environment ---------------------------------------------------------------
if [ ! -x "$PREFIX/venv/bin/python" ]; then
    say "a Python environment from $PYTHON in $PREFIX/venv"
    "$PYTHON" -m venv "$PREFIX/venv"
    "$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
fi
say "JupyterHub and the lab into $PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install -q -r "$PREFIX/lab/docs/hub/requirements.txt"
# Not editable: learners run the copy in site-packages; LABKIT_SOURCE (set by the hub's
# configuration) tells labkit where the lessons are.
"$PREFIX/venv/bin/python" -m pip install -q --upgrade --force-reinstall --no-deps "$PREFIX/lab"
"$PREFIX/venv/bin/python" -m pip install -q "$PREFIX/lab[lab]" ipykernel
rm -rf "$PREFIX/lab/build" "$PREFIX/lab"/*.egg-info

# --- the proxy --------------------------------------------------------------------------
chp="$PREFIX/proxy/node_modules/.bin/configurable-http-proxy"
if [ ! -x "$chp" ]; then
    say "configurable-http-proxy (npm) into $PREFIX/proxy"
    mkdir -p "$PREFIX/proxy"
    npm install --prefix "$PREFIX/proxy" --no-audit --no-fund --loglevel=error \
        "configurable-http-proxy@^4.6 || ^5" >/dev/null
fi

chmod -R go+rX,go-w "$PREFIX"
say "done: $("$PREFIX/venv/bin/jupyterhub" --version | tail -1) (JupyterHub), $("$chp" --version)" \
    "(configurable-http-proxy), labkit from $PREFIX/lab"
