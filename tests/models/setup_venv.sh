#!/usr/bin/env bash
# Creates the Python virtual environment of the tests and installs pinned packages into it.
# Usage: setup_venv.sh VENV_DIR PACKAGE==VERSION...
# On Debian, `python3 -m venv` needs the python3-venv package; when it is missing and this runs
# as root with apt-get available, it is installed, else the command to run is printed.
set -euo pipefail
venv="$1"
shift
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null; then
    echo "$python not found: install Python 3 (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
fi
if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "$python -m venv failed: installing python3-venv" >&2
        apt-get update -qq
        apt-get install -y -qq python3-venv >/dev/null
        "$python" -m venv "$venv"
    else
        echo "$python -m venv failed: install the venv module (Debian: sudo apt-get install python3-venv)" >&2
        exit 1
    fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
