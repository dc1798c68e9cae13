#!/usr/bin/env bash
# The VM lab: boots a real Debian VM (qemu) of one release (11 bullseye,
# 12 bookworm, 13 trixie), installs krc in it from the release .deb
# (ci/release/build.sh's target/dist/krc_*_amd64.deb, with dpkg, as a user
# would), runs krc in it as an unprivileged user with sudo rights, and
# judges what comes back:
#
#   0. `krc --version` runs in the guest ("the binary cannot run here: ..."
#      otherwise, and nothing else runs); the guest's own facts (kernel,
#      systemd, cgroup fs) are what expected/fresh-debianNN.txt says
#   1. krc preflight on the fresh guest fails and warns exactly as
#      expected/fresh-debianNN.txt says
#   2. krc install --yes --offline BUNDLE succeeds (rebooting when it exits
#      3; when it exits 6, "delegation takes effect at the next login", the
#      lab user logs out and in again and the same command runs again)
#   3. krc preflight then passes every required check
#   4. krc uninstall --yes, then krc preflight fails the same set as in 1
#
# Steps 2-4 run only when the binary has `krc install`; otherwise they are
# reported as skipped with that reason (KRC_LAB_REQUIRE_INSTALL=1 makes that
# a failure). Artifacts (every JUnit/JSON from the guest, the lab's own
# JUnit lab.xml, the serial console logs, summary.txt) go to OUT.
#
# Usage: ci/vm-lab/run.sh [--release N] [--deb PATH] [--out DIR] [--stand-in-installer]
#   --release N  the Debian release: 11, 12 or 13 [default: $KRC_LAB_RELEASE, else 12]
#   --deb PATH   the krc package to test [default: target/dist/krc_*_amd64.deb,
#                built by ci/release/build.sh when there is none]
#   --out DIR    artifacts [default: target/vm-lab/debianN]
#   --stand-in-installer
#                lab self-test: `krc install`/`uninstall` are replaced by
#                selftest/krc-standin-installer (the reference procedure by
#                hand), so steps 2-4 exercise the lab and krc preflight on a
#                host set up by the book; they say nothing about krc install
# Environment: KRC_LAB_CACHE (image cache, default /var/cache/krc-lab),
#   KRC_LAB_ACCEL (kvm|tcg|auto), KRC_LAB_BOOT_CAP (seconds per boot, 720),
#   KRC_LAB_TOTAL_CAP (seconds for the whole lab, 1200),
#   KRC_LAB_MIRROR (Debian mirror; default: the host's apt source),
#   KRC_LAB_KEEP=1 (keep the per-run disks for a post-mortem),
#   KRC_JUNIT_SCHEMAS (default: the schemas vendored in tests/data/junit).
# Needs root, qemu-system-x86_64, debootstrap, mkfs.ext4, xmllint
# (ci/provision/40-vm-lab.sh installs them). Exit status: 0 every step that
# ran passed, 1 a step failed, 2 the lab could not run.
set -euo pipefail
# The whole script is one block, so bash parses it before running it: an
# edit of this file during a run (or a git checkout) cannot derail the run.
{
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=ci/vm-lab/lib.sh
. "$here/lib.sh"
# shellcheck source=ci/vm-lab/qemu.sh
. "$here/qemu.sh"
# shellcheck source=ci/vm-lab/junit.sh
. "$here/junit.sh"

deb="" out="" standin=0 release=${KRC_LAB_RELEASE:-12}
while [ $# -gt 0 ]; do
  case $1 in
    --stand-in-installer) standin=1; shift ;;
    --release) release=$2; shift 2 ;;
    --deb) deb=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
lab_suite "$release" >/dev/null || { echo "run.sh: unknown Debian release '$release' (11, 12 or 13)" >&2; exit 2; }
out=${out:-$repo/target/vm-lab/debian$release}
expected="$here/expected/fresh-debian$release.txt"
export KRC_JUNIT_SCHEMAS=${KRC_JUNIT_SCHEMAS:-$repo/tests/data/junit}
boot_cap=${KRC_LAB_BOOT_CAP:-720}
# The whole lab, image build included, stays within this (20 minutes).
total_cap=${KRC_LAB_TOTAL_CAP:-1200}
max_boots=5
lab_started=$SECONDS

cant_run() { log "cannot run the lab: $*"; exit 2; }
[ "$(id -u)" = 0 ] || cant_run "it needs root (debootstrap, the image build)"
[ -f "$expected" ] || cant_run "no $expected: write what a fresh Debian $release guest must fail and warn"
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 xmllint tar dpkg-deb; do
  command -v "$tool" >/dev/null || cant_run "$tool not found: run ci/provision/40-vm-lab.sh"
done
[ -f "$KRC_JUNIT_SCHEMAS/ant-junit.xsd" ] || cant_run "no JUnit schemas in $KRC_JUNIT_SCHEMAS (set KRC_JUNIT_SCHEMAS)"
if [ -z "$deb" ]; then
  # The newest package the release build made (built now if there is none).
  deb=$(ls -t "$repo"/target/dist/krc_*_amd64.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    bash "$repo/ci/release/build.sh" >&2 || cant_run "ci/release/build.sh failed"
    deb=$(ls -t "$repo"/target/dist/krc_*_amd64.deb | head -n1)
  fi
fi
dpkg-deb -f "$deb" Package 2>/dev/null | grep -qx krc || cant_run "$deb is not the krc .deb"

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
image=$(bash "$here/build-image.sh" --release "$release" | tail -n1) || cant_run "building the Debian $release guest image failed"
image_secs=$((SECONDS - lab_started))
cache=$(lab_cache)
cp "$image/recipe.txt" "$out/image-recipe.txt"
cp "$image/packages.txt" "$out/image-packages.txt"

# Per-run disks live outside the artifacts: the root disk is a sparse copy
# of the cached image, so the cache stays pristine and a reboot keeps state.
run=$(mktemp -d "${TMPDIR:-/var/tmp}/krc-lab-run.XXXXXX")
# KRC_LAB_KEEP=1 keeps them (and says where) for a post-mortem.
if [ "${KRC_LAB_KEEP:-0}" = 1 ]; then
  trap 'log "kept the run disks in $run"' EXIT
else
  trap 'rm -rf "$run"' EXIT
fi
cp --sparse=always "$image/root.img" "$run/root.img"

# What the guest gets on its input disk: the lab's guest scripts, the
# binary under test and an offline bundle for `krc install`.
stage="$run/in"
mkdir -p "$stage/bundle/debs"
install -m 0755 "$here"/guest/*.sh "$stage/"
# The package, installed in the guest with dpkg before anything else runs.
install -m 0644 "$deb" "$stage/krc.deb"
if [ "$standin" = 1 ]; then
  log "SELF-TEST: krc install/uninstall are the lab's stand-in, not krc's installer"
  install -m 0755 "$here/selftest/krc-standin-installer" "$stage/krc-standin"
fi
cp "$image"/debs/*.deb "$stage/bundle/debs/"
# No k3s binary can be had on these machines: the bundle (docs/install.md's
# offline layout) carries krc's stand-ins for the install script and the
# binary, and pins marked `stand_in`, so the installer reports the API wait
# as skipped with that reason.
# The release the lab pins: the stand-in pretends to be it (krc's default).
K3S_VERSION=v1.33.5+k3s1
echo "$K3S_VERSION" >"$stage/k3s-version"
standin_dir="$repo/tests/data/standin"
install -m 0755 "$standin_dir/k3s" "$stage/bundle/k3s"
install -m 0644 "$standin_dir/install.sh" "$stage/bundle/install.sh"
install -m 0644 "$standin_dir/k3s-rootless.service" "$stage/bundle/k3s-rootless.service"
sum() { sha256sum "$1" | cut -d' ' -f1; }
printf '%s  k3s\n' "$(sum "$stage/bundle/k3s")" >"$stage/bundle/sha256sum-amd64.txt"
cat >"$stage/bundle/pins.toml" <<PINS
ref = "$K3S_VERSION"
stand_in = "no k3s can be downloaded where the VM lab runs: the bundle carries krc's stand-in, which never serves an API"
[sha256]
"install.sh" = "$(sum "$stage/bundle/install.sh")"
"k3s" = "$(sum "$stage/bundle/k3s")"
"sha256sum-amd64.txt" = "$(sum "$stage/bundle/sha256sum-amd64.txt")"
"k3s-rootless.service" = "$(sum "$stage/bundle/k3s-rootless.service")"
PINS
echo lab >"$stage/lab-user"
lab_mirror | sed -E 's#^[a-z]+://([^/:]+).*#\1#' >"$stage/mirror-host"
chmod -R a+rX "$stage"
tar -cf "$run/in.img" -C "$stage" .
truncate -s %1M "$run/in.img"

accel=$(detect_accel "$image/vmlinuz" "$cache")
log "booting the guest with $accel (at most $max_boots boots, ${total_cap}s for the whole lab)"
guest="$out/guest"
boots=0 boot_ok=1
while [ "$boots" -lt "$max_boots" ]; do
  boots=$((boots + 1))
  truncate -s 0 "$run/out.img"
  truncate -s 512M "$run/out.img"
  left=$((total_cap - (SECONDS - lab_started)))
  cap=$(( left < boot_cap ? left : boot_cap ))
  if [ "$cap" -lt 60 ]; then
    log "only ${left}s left of the lab's ${total_cap}s: not starting boot $boots"
    boot_ok=0
    break
  fi
  log "boot $boots (at most ${cap}s)"
  if ! boot_guest "$accel" "$image" "$run/root.img" "$run/in.img" "$run/out.img" \
      "$out/serial-boot$boots.log" "$cap"; then
    boot_ok=0
  fi
  rm -rf "$guest"
  mkdir -p "$guest"
  tar -xf "$run/out.img" -C "$guest" 2>/dev/null || log "boot $boots: no results on the output disk"
  [ "$boot_ok" = 1 ] || break
  next=$(cat "$guest/next" 2>/dev/null || echo missing)
  case $next in
    done) break ;;
    reboot) log "the guest asks for a reboot (an exit status 3)"; continue ;;
    *) log "boot $boots: the guest left no next step (lab-steps.sh did not finish)"; boot_ok=0; break ;;
  esac
done
lab_secs=$((SECONDS - lab_started))

# ---- judging what came back ----
steps="$guest/steps"
expect() { sed 's/#.*//' "$expected" | awk -v k="$1" '$1 == k { print $2 }' | sort; }
exp_name="expected/fresh-debian$release.txt"
rc_of() { cat "$steps/$1.rc" 2>/dev/null || echo none; }

if [ "$boot_ok" = 1 ]; then
  lab_case boot passed "$lab_secs" ""
else
  tail -n 60 "$out/serial-boot$boots.log" >"$out/boot-failure.txt" 2>/dev/null || true
  lab_case boot failed "$lab_secs" "the guest did not run the lab to its end (boot $boots; serial log serial-boot$boots.log)" "$out/boot-failure.txt"
fi

invalid=0 seen=0
for x in "$guest"/*.xml; do
  [ -e "$x" ] || continue
  seen=$((seen + 1))
  validate_junit "$x" || invalid=$((invalid + 1))
done
if [ "$seen" = 0 ]; then
  lab_case junit-valid failed 0 "no JUnit file came back from the guest"
elif [ "$invalid" = 0 ]; then
  lab_case junit-valid passed 0 ""
else
  lab_case junit-valid failed 0 "$invalid JUnit file(s) from the guest fail schema validation (*.xsd.err beside them)"
fi

# Step 0: the packaged krc runs here, and the guest is the release the
# expectations describe (its facts, read without krc).
if [ ! -f "$steps/version.rc" ]; then
  lab_case 0-krc-version failed 0 "the guest never ran \`krc --version\` (see guest-root.log)"
elif [ "$(rc_of version)" = 0 ]; then
  lab_case 0-krc-version passed 0 ""
else
  lab_case 0-krc-version failed 0 "the binary cannot run here: $(grep -v '^(killed' "$guest/version.txt" 2>/dev/null | head -n1) (exit $(rc_of version))" "$guest/version.txt"
fi
facts="$guest/facts-boot1.txt"
: >"$out/facts-diff.txt"
while read -r key want; do
  [ -n "$key" ] || continue
  got=$(sed -n "s/^$key: //p" "$facts" 2>/dev/null | head -n1)
  case $got in
    *"$want"*) ;;
    *) echo "$key: expected '$want', the guest says '${got:-nothing}'" >>"$out/facts-diff.txt" ;;
  esac
done < <(sed 's/#.*//' "$expected" | awk '$1 == "fact" { k = $2; sub(/^fact[ \t]+[^ \t]+[ \t]+/, ""); sub(/[ \t]+$/, ""); print k, $0 }')
if [ ! -s "$out/facts-diff.txt" ] && [ -f "$facts" ]; then
  lab_case 0-guest-facts passed 0 ""
else
  [ -f "$facts" ] || echo "no facts-boot1.txt came back" >>"$out/facts-diff.txt"
  lab_case 0-guest-facts failed 0 "the guest is not what $exp_name describes: $(head -n1 "$out/facts-diff.txt")" "$out/facts-diff.txt"
fi

# Step 1: the fresh guest fails and warns exactly as expected.
if [ -f "$guest/pre.xml" ]; then
  failing_checks "$guest/pre.xml" >"$out/pre-failing.txt"
  warned_checks "$guest/pre.xml" >"$out/pre-warned.txt"
  {
    echo "failing: expected ($exp_name) vs observed (pre.xml):"
    diff <(expect fail) "$out/pre-failing.txt" && echo "(same)"
    echo "warned: expected vs observed:"
    diff <(expect warn) "$out/pre-warned.txt" && echo "(same)"
  } >"$out/pre-diff.txt" || true
  if [ "$(rc_of pre)" = 1 ] && [ "$(cat "$out/pre-failing.txt")" = "$(expect fail)" ] \
      && [ "$(cat "$out/pre-warned.txt")" = "$(expect warn)" ]; then
    lab_case 1-preflight-fresh-guest passed 0 ""
  else
    lab_case 1-preflight-fresh-guest failed 0 "krc preflight on the fresh guest: exit $(rc_of pre), failing or warned set differs from $exp_name" "$out/pre-diff.txt"
  fi
else
  lab_case 1-preflight-fresh-guest failed 0 "no pre.xml came back from the guest"
fi

# Steps 2-4: run, failed, or not run (with the guest's reason).
judge() { # judge NAME TITLE: skipped when the guest did not run it
  if [ -f "$steps/$1.not-run" ]; then
    lab_case "$2" skipped 0 "not run: $(head -n1 "$steps/$1.not-run")"
    return 1
  fi
  [ -f "$steps/$1.rc" ] || { lab_case "$2" failed 0 "the guest never reached this step"; return 1; }
}
if judge install 2-install; then
  attempts=$(cat "$steps/install.attempts")
  if [ "$(rc_of install)" = 0 ]; then
    lab_case 2-install passed 0 ""
  else
    lab_case 2-install failed 0 "krc install --yes --offline: exit $(rc_of install) after $attempts attempt(s)" "$guest/install-$attempts.txt"
  fi
  if grep -q . "$steps/install.relogins" 2>/dev/null; then
    log "krc install asked for a re-login (exit 6) $(cat "$steps/install.relogins") time(s); the lab logged out and in again"
  fi
fi
if judge post 3-preflight-after-install; then
  if [ "$(rc_of post)" = 0 ]; then
    lab_case 3-preflight-after-install passed 0 ""
  else
    failing_checks "$guest/post.xml" >"$out/post-failing.txt"
    lab_case 3-preflight-after-install failed 0 "krc preflight after install: exit $(rc_of post); failing: $(tr '\n' ' ' <"$out/post-failing.txt")" "$guest/post.txt"
  fi
fi
if judge uninstall 4-uninstall; then
  case $(rc_of uninstall) in
    0|3) lab_case 4-uninstall passed 0 "" ;;
    *) lab_case 4-uninstall failed 0 "krc uninstall --yes: exit $(rc_of uninstall)" "$guest/uninstall.txt" ;;
  esac
fi
if judge final 4-preflight-after-uninstall; then
  failing_checks "$guest/final.xml" >"$out/final-failing.txt"
  # The modules krc loaded stay loaded until the guest reboots (uninstall
  # removes the modules-load file; it never unloads a module something
  # may use), so kernel.modules alone may pass after uninstall.
  grep -vx kernel.modules "$out/pre-failing.txt" >"$out/pre-failing-cmp.txt" || true
  grep -vx kernel.modules "$out/final-failing.txt" >"$out/final-failing-cmp.txt" || true
  { echo "step 1 (pre.xml) vs after uninstall (final.xml), kernel.modules aside:"; diff "$out/pre-failing-cmp.txt" "$out/final-failing-cmp.txt"; } >"$out/final-diff.txt" || true
  if cmp -s "$out/pre-failing-cmp.txt" "$out/final-failing-cmp.txt"; then
    lab_case 4-preflight-after-uninstall passed 0 ""
  else
    lab_case 4-preflight-after-uninstall failed 0 "after uninstall, krc preflight fails a different set than on the fresh guest" "$out/final-diff.txt"
  fi
fi
if [ "${KRC_LAB_REQUIRE_INSTALL:-0}" = 1 ] && [ -f "$steps/install.not-run" ]; then
  lab_case install-required failed 0 "KRC_LAB_REQUIRE_INSTALL=1 but steps 2-4 did not run: $(head -n1 "$steps/install.not-run")"
fi

{
  echo "release=debian$release"
  echo "deb=$(basename "$deb")"
  echo "accel=$accel"
  echo "boots=$boots"
  echo "image=$(basename "$image")"
  echo "image.seconds=$image_secs"
  echo "run.seconds=$((lab_secs - image_secs))"
  [ "$standin" = 0 ] || echo "installer=lab stand-in (self-test): steps 2-4 say nothing about krc install"
} >"$run/props"
LAB_SUITE="vm-lab-debian$release" lab_report "$out/lab.xml" "$lab_secs" "$run/props"
validate_junit "$out/lab.xml" || die "the lab's own report lab.xml is not valid JUnit (a bug in junit.sh)"

{
  [ "$standin" = 0 ] || echo "SELF-TEST with the lab's stand-in installer: steps 2 and 4 did not run krc install/uninstall"
  echo "krc VM lab, Debian $release: $accel, $boots boot(s), ${lab_secs}s in all (image: ${image_secs}s, $(basename "$image"); run: $((lab_secs - image_secs))s); $(basename "$deb")"
  for tc in "${LAB_CASES[@]}"; do
    name=$(sed -n 's/.*testcase name="\([^"]*\)".*/\1/p' <<<"$tc")
    case $tc in
      *"<failure"*) echo "  FAIL $name: $(sed -n 's/.*<failure message="\([^"]*\)".*/\1/p' <<<"$tc")" ;;
      *"<skipped"*) echo "  SKIP $name: $(sed -n 's/.*<skipped message="\([^"]*\)".*/\1/p' <<<"$tc")" ;;
      *) echo "  ok   $name" ;;
    esac
  done
  echo "step 1 failing checks: $(tr '\n' ' ' <"$out/pre-failing.txt" 2>/dev/null || echo '(no report)')"
  echo "step 1 warned checks: $(tr '\n' ' ' <"$out/pre-warned.txt" 2>/dev/null || echo '(no report)')"
  for f in post final; do
    [ -f "$guest/$f.xml" ] || continue
    echo "$f: failing: $(failing_checks "$guest/$f.xml" | tr '\n' ' '); warned: $(warned_checks "$guest/$f.xml" | tr '\n' ' ')"
  done
  echo "artifacts: $out"
} >"$out/summary.txt"
cat "$out/summary.txt" >&2
[ "${LAB_COUNTS[0]}" = 0 ]
exit
}
