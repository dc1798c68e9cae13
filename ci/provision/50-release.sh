#!/usr/bin/env bash
# The release build (ci/release/build.sh): lintian checks the .deb, rpm
# builds the .rpm, python3-venv holds ziglang and cargo-zigbuild (from
# PyPI; build.sh installs them into its own venv), binutils for readelf.
set -euo pipefail
apt-get install -y -q lintian rpm python3-venv binutils >/dev/null
