#!/usr/bin/env bash
# The VM lab (ci/vm-lab/, run by tests/vm_lab.rs): qemu to boot a Debian 12
# guest, debootstrap and e2fsprogs to build its disk without loop mounts,
# xmllint to validate the JUnit that comes back. Idempotent; starts no daemon.
set -euo pipefail
apt-get install -y -q --no-install-recommends \
  qemu-system-x86 debootstrap e2fsprogs libxml2-utils tar coreutils >/dev/null
# Build the guest image now (cached by recipe hash under KRC_LAB_CACHE, so
# this is a no-op when the image is already there) so that a broken mirror
# shows up here, as provisioning, and the test's time is the lab's own.
bash "$(dirname "$0")/../vm-lab/build-image.sh" >/dev/null
