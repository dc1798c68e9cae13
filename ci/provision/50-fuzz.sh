#!/usr/bin/env bash
# ci/fuzz.sh: libfuzzer-sys compiles libFuzzer's C++ sources. The nightly
# toolchain and cargo-fuzz are the script's own business (it installs them
# with rustup and cargo when missing).
set -euo pipefail
apt-get install -y -q g++ >/dev/null
