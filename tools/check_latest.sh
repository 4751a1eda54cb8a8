#!/usr/bin/env bash
# Does redact still work on today's newest releases of everything it depends on?
# Installs the project with its test extras, unconstrained (the newest versions pyproject.toml's
# ranges allow), into a fresh virtual environment, then runs the checks CI runs and the demo.
# An upstream release that breaks redact is found here, not by a user. Exit 0: all passed.
#   tools/check_latest.sh              # the whole suite (a few minutes on 2 cores)
#   tools/check_latest.sh -k colour    # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
. "$work/venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]'
echo "== newest releases installed; they differ from constraints.txt here:"
python -m pip freeze --all --exclude-editable | sort >"$work/now.txt"
grep '==' constraints.txt | sort | comm -13 - "$work/now.txt" | sed 's/^/   /' || true
ruff check redact tests bench tools
ruff format --check redact tests bench tools
mypy
redact demo "$work/demo"
python -m pytest -q -p no:cacheprovider "$@"
echo "== check_latest: passed on the newest releases"
