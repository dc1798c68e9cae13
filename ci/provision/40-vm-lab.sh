#!/usr/bin/env bash
# The VM lab (ci/vm-lab/, run by tests/vm_lab.rs): qemu to boot Debian 11, 12
# and 13 guests, debootstrap and e2fsprogs to build its disk without loop mounts,
# xmllint to validate the JUnit that comes back. Idempotent; starts no daemon.
set -euo pipefail
apt-get install -y -q --no-install-recommends \
  qemu-system-x86 debootstrap e2fsprogs libxml2-utils tar coreutils >/dev/null
# Build the guest images now, one per Debian release the lab runs (cached
# by recipe hash under KRC_LAB_CACHE, so this is a no-op when an image is
# already there), so that a broken mirror shows up here, as provisioning,
# and each test's time (and its 25-minute cap) is the lab's own.
for release in 11 12 13; do
  bash "$(dirname "$0")/../vm-lab/build-image.sh" --release "$release" >/dev/null
done
