#!/usr/bin/env bash
# Builds the VM lab's Debian guest of one release (11 bullseye, 12 bookworm
# or 13 trixie) from Debian packages (debootstrap, no loop mounts: the raw
# disk is made with `mkfs.ext4 -d`) and prints the directory that holds it:
#
#   ci/vm-lab/build-image.sh [--release 11|12|13]   (default: $KRC_LAB_RELEASE, else 12)
#
#
#   root.img     raw ext4 root filesystem (the guest boots with root=/dev/vda)
#   vmlinuz      the guest's kernel and initrd, for qemu's direct kernel boot
#   initrd.img
#   debs/        the .debs `krc install` needs on this guest (uidmap,
#                slirp4netns, fuse-overlayfs and their dependencies), for an
#                offline bundle
#   recipe.txt   what went in
#
# The result is cached under $KRC_LAB_CACHE (default /var/cache/krc-lab) as
# debianNN-HASH, by a hash of the recipe: the release, this script, lib.sh
# and the files it installs in the guest. A re-run with the same recipe
# prints the cached directory at once; a new recipe replaces only the images
# of its own release. The mirror is the host's own (see lab_mirror).
# Needs root (debootstrap) and 1-3 minutes and about 1 GB per release the
# first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

release=${KRC_LAB_RELEASE:-12}
while [ $# -gt 0 ]; do
  case $1 in
    --release) release=$2; shift 2 ;;
    *) die "build-image.sh: unknown argument $1 (use --release 11|12|13)" ;;
  esac
done
SUITE=$(lab_suite "$release") || die "unknown Debian release '$release': the lab knows 11, 12 and 13"
# What a freshly provisioned Debian 12 VM has, plus what the lab needs to
# drive it: systemd as init, a kernel, udev, the system and user buses,
# logind sessions (libpam-systemd), machinectl for a real login session from
# a unit, sudo for the unprivileged user, procps (priority important: every
# Debian 12 VM has sysctl and ps). Deliberately NOT included: uidmap,
# slirp4netns, fuse-overlayfs, which `krc install` must bring.
PACKAGES=systemd,systemd-sysv,systemd-container,libpam-systemd,linux-image-amd64,udev,dbus,dbus-user-session,sudo,kmod,zstd,procps
# What `krc install` would fetch on this guest; downloaded once into debs/.
BUNDLE_PACKAGES="uidmap slirp4netns fuse-overlayfs"
LAB_USER=lab
DISK_SIZE=3G

[ "$(id -u)" = 0 ] || die "building the guest image needs root (debootstrap, chroot)"
for tool in debootstrap mkfs.ext4 sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found: run ci/provision/40-vm-lab.sh"
done

recipe_hash=$( { echo "$SUITE"; cat "$0" "$here/lib.sh" "$here/guest/krc-lab-boot" "$here/guest/krc-lab-boot.service"; } \
  | sha256sum | cut -c1-16)
cache=$(lab_cache)
name="debian$release"
out="$cache/$name-$recipe_hash"
if [ -f "$out/ready" ]; then
  log "guest image cached: $out"
  printf '%s\n' "$out"
  exit 0
fi

mirror=$(lab_mirror)
mkdir -p "$cache"
work=$(mktemp -d "$cache/.build-$recipe_hash.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
started=$SECONDS

log "debootstrap $SUITE from $mirror into $root (about 2.5 minutes)"
timeout 1200 debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

in_guest() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"; }
# `timeout` cannot run a shell function: the same, with a cap.
in_guest_capped() {
  local cap=$1; shift
  timeout "$cap" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"
}

log "configuring the guest"
echo krc-lab >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 krc-lab\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
# qemu's user-mode network: DHCP on the first Ethernet link, DNS at 10.0.2.3.
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en*\n\n[Network]\nDHCP=ipv4\n' >"$root/etc/systemd/network/10-lab.network"
printf 'nameserver 10.0.2.3\n' >"$root/etc/resolv.conf"
in_guest systemctl enable systemd-networkd.service >/dev/null 2>&1
# qemu boots the kernel and initrd copied out of the image at build time, so
# regenerating the guest's own initrd is wasted work, and under TCG it is
# minutes of it (installing fuse3 triggers it).
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$root/etc/initramfs-tools/update-initramfs.conf"
grep -qx 'update_initramfs=no' "$root/etc/initramfs-tools/update-initramfs.conf" \
  || die "could not switch off update-initramfs in the guest"
# The unprivileged user who runs krc, with password-less sudo as CI runners have.
in_guest useradd -m -s /bin/bash "$LAB_USER"
printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$LAB_USER" >"$root/etc/sudoers.d/krc-lab"
chmod 0440 "$root/etc/sudoers.d/krc-lab"
# The boot hook that runs a lab handed in on a second disk.
install -m 0755 "$here/guest/krc-lab-boot" "$root/usr/local/sbin/krc-lab-boot"
install -m 0644 "$here/guest/krc-lab-boot.service" "$root/etc/systemd/system/krc-lab-boot.service"
in_guest systemctl enable krc-lab-boot.service >/dev/null 2>&1

log "downloading the .debs an offline install needs: $BUNDLE_PACKAGES"
mkdir -p "$work/out/debs"
# debootstrap leaves the base system's .debs in apt's cache: clear it so
# only the bundle's packages (and the dependencies they add) are downloaded.
in_guest apt-get -q clean
# shellcheck disable=SC2086 # a word list on purpose
in_guest_capped 600 sh -c "apt-get -q update && apt-get -q -y --download-only install $BUNDLE_PACKAGES" \
  >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "downloading the bundle's .debs failed"; }
mv "$root"/var/cache/apt/archives/*.deb "$work/out/debs/"
in_guest apt-get -q clean
# What the image holds, for the record (the lab's expectations depend on it).
in_guest dpkg-query -W -f '${Package} ${Version}\n' >"$work/out/packages.txt"

cp "$root"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/out/initrd.img"
log "making the raw root disk ($DISK_SIZE, sparse) with mkfs.ext4 -d"
mkfs.ext4 -q -F -d "$root" -L root "$work/out/root.img" "$DISK_SIZE"
{
  echo "release: Debian $release ($SUITE)"
  echo "suite: $SUITE"
  echo "mirror: $mirror"
  echo "packages: $PACKAGES"
  echo "bundle packages: $BUNDLE_PACKAGES"
  echo "user: $LAB_USER (NOPASSWD sudo)"
  echo "recipe hash: $recipe_hash"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - started))s"
} >"$work/out/recipe.txt"
touch "$work/out/ready"
rm -rf "$out"
mv "$work/out" "$out"
# Images of older recipes of this release are dead weight (about 1 GB
# each): drop them. Other releases' images are not this build's to touch.
for old in "$cache/$name"-*; do
  [ "$old" = "$out" ] || rm -rf "$old"
done
echo "$((SECONDS - started))" >"$out/build-seconds"
log "guest image of Debian $release built in $((SECONDS - started))s: $out"
printf '%s\n' "$out"
