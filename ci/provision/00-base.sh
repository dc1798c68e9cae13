#!/usr/bin/env bash
# Base tools for the preflight tests: xmllint for JUnit schema validation,
# the rootless tools for the live probes, hyperfine for the benchmark,
# and ShellCheck to lint ci/'s scripts.
set -euo pipefail
apt-get install -y -q libxml2-utils uidmap slirp4netns fuse-overlayfs hyperfine time procps iproute2 shellcheck >/dev/null
