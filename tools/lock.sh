#!/usr/bin/env bash
# Regenerate constraints.txt: the exact versions a fresh install gets, tested by CI.
# Installs the project with every extra into a throw-away virtual environment from the ranges in
# pyproject.toml (today's newest releases within them), runs nothing, and freezes what came in.
# Run tools/check_latest.sh first: only lock what passed.
#   tools/lock.sh            # writes constraints.txt
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test,heic,dask]'
pyver=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')
{
    echo "# Tested versions of every dependency (Python $pyver, $(uname -s) $(uname -m)), made by tools/lock.sh on $(date -u +%F)."
    echo "# A pip constraints file: pip install -c constraints.txt -e '.[test]'"
    "$venv/bin/python" -m pip freeze --all --exclude-editable | grep -v -i -E "^(redact|setuptools|wheel)=="
} >constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pinned packages"
