#!/usr/bin/env bash
# One-time set-up from a fresh clone: Debian packages the tests need, the .venv and the project.
# Idempotent: re-running only installs what is missing. Called by `make run` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the test suite needs: postgresql (15 on Debian 12) for the API tests on a
# real PostgreSQL server (scripts/postgres.sh); later issues add chromium, tshark.
APT_PACKAGES=(postgresql)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# A Python >= 3.11 for the venv.
python=""
for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then
  echo "setup: error: gridderms needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "setup: installing gridderms (editable) with its dev extra"
.venv/bin/python -m pip install --quiet -e ".[dev]"
