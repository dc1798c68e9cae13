#!/bin/bash
# Runs as root in the lab guest at every boot (started by krc-lab-boot from
# the input disk). It records what the guest is, runs the user part
# (lab-steps.sh) as the unprivileged user inside a real login session, then
# writes everything the lab produced to the output disk and powers off.
# State that must survive a reboot lives in /var/lib/krc-lab on the root disk.
set -euo pipefail
in=/var/lib/krc-lab/in
state=/var/lib/krc-lab
out=$state/out
user=$(cat "$in/lab-user")
outdisk=/dev/disk/by-id/virtio-krclabout

mkdir -p "$out"
chown "$user:" "$out"
boot=$(( $(cat "$state/boots" 2>/dev/null || echo 0) + 1 ))
echo "$boot" >"$state/boots"
exec > >(tee -a "$out/guest-root.log") 2>&1
echo "== krc-lab: boot $boot, $(date -u +%Y-%m-%dT%H:%M:%SZ)"

finish() {
  # Whatever happened, hand the results back and power off; the host reads
  # the output disk as a plain tar.
  local rc=$?
  echo "== krc-lab: boot $boot done (guest-run status $rc), writing results to $outdisk"
  journalctl -b --no-pager -o short-monotonic >"$out/journal-boot$boot.txt" 2>&1 || true
  if ! tar -cf "$outdisk" -C "$out" .; then
    echo "krc-lab: failed to write results to $outdisk"
  fi
  sync
  systemctl poweroff --no-block
}
trap finish EXIT

# Facts about the fresh guest, read independently of krc, so a reader can
# judge krc's verdicts against them (the lab checks the `fact` lines of
# expected/fresh-debianNN.txt against them).
{
  echo "boot: $boot"
  echo "debian: $(cat /etc/debian_version)"
  echo "kernel: $(uname -r)"
  echo "systemd: $(systemctl --version | head -n1)"
  echo "glibc: $(getconf GNU_LIBC_VERSION)"
  echo "cgroup-fs: $(stat -f -c %T /sys/fs/cgroup)"
  echo "cgroup-root-controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
  echo "net.ipv4.ip_forward: $(cat /proc/sys/net/ipv4/ip_forward)"
  echo "devices: $(stat -c '%n %A %U:%G' /dev/net/tun /dev/fuse 2>&1 | tr '\n' ';')"
  for p in newuidmap newgidmap slirp4netns fuse-overlayfs; do
    echo "$p: $(command -v "$p" || echo 'not installed')"
  done
  echo "subuid: $(grep -c . /etc/subuid 2>/dev/null || echo 'no /etc/subuid') lines; $user: $(grep "^$user:" /etc/subuid 2>/dev/null || echo none)"
  echo "linger: $(ls /var/lib/systemd/linger 2>/dev/null | tr '\n' ' ')"
  # Can the guest reach the Debian mirror through qemu's user-mode network?
  mirror_host=$(cat "$in/mirror-host")
  if timeout 15 bash -c "exec 3<>/dev/tcp/$mirror_host/80" 2>/dev/null; then
    echo "mirror reachable: yes ($mirror_host:80)"
  else
    echo "mirror reachable: no ($mirror_host:80)"
  fi
} >"$out/facts-boot$boot.txt" 2>&1

# krc comes from its .deb, installed as a user would (once: it stays on the
# root disk across reboots).
if [ ! -f "$state/deb-installed" ]; then
  if dpkg -i "$in/krc.deb" >"$out/deb-install.txt" 2>&1; then
    touch "$state/deb-installed"
  else
    echo "dpkg -i krc.deb failed (exit $?)" >>"$out/deb-install.txt"
  fi
fi
# krc capture of the fresh guest, replayed and compared (one line in
# OUT/capture/result.txt, which tests/vm_lab.rs checks). On Debian 12 only:
# it costs about a minute of the first boot under TCG, and the slower
# releases' boots are near the lab's cap.
if [ "$boot" = 1 ] && [ -f "$state/deb-installed" ] && grep -qx 'VERSION_ID="12"' /etc/os-release; then
  KRC=/usr/bin/krc "$in/capture.sh" "$user" "$out" || true
fi
# The lab's self-test swaps krc's installer for the book's procedure.
if [ -f "$in/krc-standin" ]; then
  install -m 0755 "$in/krc-standin" /usr/local/bin/krc-standin
fi

# A real login session for the user: machinectl shell goes through PAM and
# systemd-logind, which starts user@UID.service and /run/user/UID, so
# `systemctl --user` works as it does over ssh. No lingering is switched on:
# that is the installer's job, and step 1 must see the guest as it came.
echo "== krc-lab: running lab-steps.sh as $user in a login session"
# setsid: machinectl gives the session a terminal, and CI jobs have none;
# under `timeout` (its own process group, so in the terminal's background)
# sudo's use_pty was seen to stop the command for good (SIGTTOU). Without a
# controlling terminal, krc and sudo run as they would in a CI job.
# Flush the disk every few seconds so the host can show progress (debugfs).
(while sleep 5; do sync; done) &
syncer=$!
set +e
uid=$(id -u "$user")
for login in 1 2 3; do
  timeout 1500 machinectl shell --quiet "$user@" /usr/bin/setsid --wait /bin/bash "$in/lab-steps.sh" </dev/null
  echo "machinectl shell exit status (login $login): $?" >>"$out/facts-boot$boot.txt"
  [ "$(cat "$out/next" 2>/dev/null)" = relogin ] || break
  # `krc install` exited 6: delegation takes effect at the user's next
  # login. The session above has ended; once logind has stopped the user's
  # manager (no session, no lingering), the next login starts a new one.
  echo "== krc-lab: re-login: waiting for user@$uid.service to stop"
  for _ in $(seq 60); do
    systemctl is-active -q "user@$uid.service" || break
    sleep 1
  done
  echo "user@$uid.service after the logout: $(systemctl is-active "user@$uid.service")" >>"$out/facts-boot$boot.txt"
done
set -e
kill "$syncer" 2>/dev/null || true
