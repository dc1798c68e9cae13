#!/usr/bin/env bash
# Builds the local Debian 12 image the installer's container test boots
# (systemd as PID 1). No registry is reachable here, so the image is a
# debootstrap minbase tree imported into Docker. The tag is the hash of this
# script: change the recipe and a new image is built; run it again and the
# cached one is reused. Prints the image name on its last line.
#
# Deliberately NOT in the image: uidmap, slirp4netns, fuse-overlayfs, so that
# `krc install` installs them for real through apt.
set -euo pipefail
# The Debian mirror: KRC_DEBIAN_MIRROR (or KRC_LAB_MIRROR), else the one
# this machine's own apt uses (no mirror address is written down here).
# shellcheck source=../vm-lab/lib.sh
. "$(dirname "$0")/../vm-lab/lib.sh"
MIRROR=${KRC_DEBIAN_MIRROR:-$(lab_mirror)}
INCLUDE=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,sudo,ca-certificates,procps,iproute2,passwd,login
hash=$(sha256sum "$0" | cut -c1-12)
image=krc-debian12:$hash
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
work=$(mktemp -d /var/tmp/krc-debian12.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "building $image with debootstrap from $MIRROR (a few minutes)" >&2
debootstrap --variant=minbase --include="$INCLUDE" bookworm "$work/root" "$MIRROR" >&2
root=$work/root
# A container has no consoles or kernel to set up; these units only fail there.
for u in getty@tty1.service console-getty.service systemd-remount-fs.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
echo krc-lab >"$root/etc/hostname"
# apt lists are fetched by krc's packages step itself (apt-get update).
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/archives/"*.deb
tar -C "$root" -c . | docker import -c 'CMD ["/sbin/init"]' - "$image" >&2
echo "$image"
