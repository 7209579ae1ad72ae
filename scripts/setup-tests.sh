#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine with Python 3.11.
# System packages the tests start for real (an sshd, a browser) are installed here too,
# so that `.ci/run` fails on a missing install step instead of hiding it.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet '.[test]'
