#!/usr/bin/env bash
# The rootless port lab (tests/port_lab.rs): rootlesskit, slirp4netns and the
# setuid newuidmap/newgidmap, and a /dev/net/tun an unprivileged user can
# open (it is 0600 on this machine; distributions ship 0666, which is what
# k3s's rootless network needs). Idempotent.
set -euo pipefail
apt-get install -y -q rootlesskit slirp4netns uidmap python3 >/dev/null
if [ ! -e /dev/net/tun ]; then
  mkdir -p /dev/net
  mknod /dev/net/tun c 10 200
fi
chmod 0666 /dev/net/tun
