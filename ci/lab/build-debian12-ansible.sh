#!/usr/bin/env bash
# The Debian 12 lab image (ci/lab/build-debian12.sh) plus python3, which
# Ansible needs on every host it manages: the image tests/ansible_fleet.rs
# runs its fleet of systemd containers from. python3 comes from the Debian
# mirror through apt inside a throwaway container, which is then committed.
# The tag hashes this script and the base image's tag: change either and a
# new image is built; otherwise the cached one is reused. Prints the image
# name on its last line.
set -euo pipefail
here=$(dirname "$0")
base=$(bash "$here/build-debian12.sh" | tail -n1)
# shellcheck source=../vm-lab/lib.sh
. "$here/../vm-lab/lib.sh"
MIRROR=${KRC_DEBIAN_MIRROR:-$(lab_mirror)}
hash=$( (sha256sum "$0"; printf '%s\n' "$base") | sha256sum | cut -c1-12)
image=krc-debian12-ansible:$hash
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
echo "building $image: $base + python3 from $MIRROR" >&2
name=krc-ansible-build-$$
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
# No systemd here: a plain shell is enough for apt, and the image's CMD
# (/sbin/init) is kept by `docker commit`.
docker run --name "$name" "$base" sh -c "
  set -e
  cp /etc/apt/sources.list /etc/apt/sources.list.krc
  echo 'deb $MIRROR bookworm main' >/etc/apt/sources.list
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3
  mv /etc/apt/sources.list.krc /etc/apt/sources.list
  rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
" >&2
docker commit -c 'CMD ["/sbin/init"]' "$name" "$image" >/dev/null
echo "$image"
