#!/usr/bin/env bash
# python/run-tests.sh - the Python package's tests: builds libpwstore into a
# temporary prefix (scripts/install-lib) and the commands, then runs pytest on
# python/tests with Debian's python3 (numpy, xarray, pytest from apt).
#
#   python/run-tests.sh [pytest args...]
#
# Knobs: PW_PYTHON (default /usr/bin/python3); PWSTORE_PREFIX (an installed
# prefix to use instead of building one); PW_BIN (a directory with pwriter and
# preader). Skips, with exit 0, only when numpy is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

py=${PW_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import numpy' 2>/dev/null; then
	echo "python tests skipped: numpy is not installed for $py (Debian: python3-numpy)"
	exit 0
fi
"$py" -c 'import pytest' 2>/dev/null || { echo "python tests need pytest for $py (Debian: python3-pytest)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "${PWSTORE_PREFIX:-}" ]; then
	[ -x scripts/install-lib ] || { echo "python tests need scripts/install-lib (the C ABI, libpwstore)" >&2; exit 1; }
	scripts/install-lib "$tmp/prefix" >/dev/null
	export PWSTORE_PREFIX="$tmp/prefix"
fi
if [ -z "${PW_BIN:-}" ]; then
	go build -o "$tmp/bin/" ./cmd/pwriter ./cmd/preader
	export PW_BIN="$tmp/bin"
fi
export PWSTORE_LIB="$PWSTORE_PREFIX/lib/libpwstore.so"
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1

set +e
"$py" -m pytest -p no:cacheprovider -q python/tests "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
	echo "python tests: pytest collected no tests (python/tests missing?)" >&2
	exit 1
fi
exit "$rc"
