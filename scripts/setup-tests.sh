#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine with Python 3.11.
# System packages the tests start for real are installed here too, so that `.ci/run`
# fails on a missing install step instead of hiding it:
#   openssh-server / openssh-client: the SSH runner is tested against a real sshd on 127.0.0.1.
#   chromium (+ a font): the HTML report is rendered in a real headless browser.
#   gcc: the C source `edgekd export` writes is compiled and checked against the .tflite.
#   postgresql: search workers share a study on a throw-away PostgreSQL server the tests start.
# Then the emulated Raspberry Pi 5 the tests run the agent on (Debian arm64 Python, numpy and
# LiteRT under qemu-aarch64-static; about 20 s and 110 MB of downloads from Debian and PyPI,
# kept in ~/.edgekd/emulated/rpi5 and reused by later runs).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need_apt+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium fonts-dejavu-core)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet '.[test]'
python3 -m edgekd devices emulate rpi5
