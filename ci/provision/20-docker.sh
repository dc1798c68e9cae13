#!/usr/bin/env bash
# Docker engine and debootstrap for the installer's container test
# (tests/install_container.rs). There is no systemd as PID 1 on the CI
# machine, so dockerd is started here when none answers; then the local
# Debian 12 image is built (cached by recipe hash, see ci/lab/).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -q "${need[@]}" >/dev/null
fi
if ! docker version >/dev/null 2>&1; then
  echo "starting dockerd (log: /var/log/krc-dockerd.log)"
  nohup dockerd >/var/log/krc-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 1
  done
  docker version >/dev/null 2>&1 || { echo "dockerd did not answer within 60s; see /var/log/krc-dockerd.log" >&2; exit 1; }
fi
# Build the image now so the test does not pay for it (it is cached).
bash ci/lab/build-debian12.sh
