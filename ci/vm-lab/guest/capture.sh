#!/bin/bash
# Runs as root in the lab guest (guest-run.sh, first boot, before the lab
# steps): `krc capture` of the lab user, extracted with tar and replayed
# with `krc preflight --root`, compared check by check with a live
# `krc preflight` of the same user. Keeps everything in OUT/capture and
# prints ONE line for the host to check (also in OUT/capture/result.txt):
#   krc-capture-replay: same N checks, exit S
#   krc-capture-replay: differ ID live=X replay=Y; ... (exit live A replay B)
#   krc-capture-replay: error WHAT
# Three krc runs: about 100 s of the first boot under tcg with a debug krc
# (seen 2026-12-03), a few seconds with KVM.
# Usage: capture.sh USER OUT   (KRC: the krc to run, default the lab's)
set -uo pipefail
user=$1
dir=$2/capture
krc=${KRC:-/var/lib/krc-lab/in/krc}
mkdir -p "$dir"
say() { echo "krc-capture-replay: $*" | tee "$dir/result.txt"; }
# "ID STATUS" per check of krc's report on the terminal, sorted by id.
verdicts() { sed -nE 's/^(PASS|FAIL|WARN|SKIP|ERROR) +([a-z0-9.-]+) .*/\2 \1/p' "$1" | sort; }

# A first preflight settles the guest: asking the user's manager
# (`systemctl --user -M USER@`) makes systemd start user@UID, which creates
# /run/user/UID, so the run after it sees a different host (seen on
# Debian 12: session.runtime-dir FAIL, then PASS). The live run compared
# is the one right before the capture.
"$krc" preflight --user "$user" --color never >"$dir/settle.txt" 2>&1
"$krc" preflight --user "$user" --color never >"$dir/live.txt" 2>&1
live=$?
if ! "$krc" capture --user "$user" --output "$dir/host.tar.gz" >"$dir/capture.txt" 2>&1; then
  say "error krc capture failed: $(tail -n1 "$dir/capture.txt")"
  exit 1
fi
rm -rf "$dir/tree" && mkdir "$dir/tree"
if ! tar -xzf "$dir/host.tar.gz" -C "$dir/tree" 2>"$dir/tar.txt"; then
  say "error tar -xzf failed: $(tail -n1 "$dir/tar.txt")"
  exit 1
fi
"$krc" preflight --root "$dir/tree" --color never >"$dir/replay.txt" 2>&1
replay=$?
verdicts "$dir/live.txt" >"$dir/live.verdicts"
verdicts "$dir/replay.txt" >"$dir/replay.verdicts"
n=$(grep -c . "$dir/live.verdicts")
if [ "$n" = 0 ]; then
  say "error the live preflight printed no verdicts (exit $live): $(tail -n1 "$dir/live.txt")"
  exit 1
fi
diffs=$(join -a1 -a2 -e absent -o 0,1.2,2.2 "$dir/live.verdicts" "$dir/replay.verdicts" |
  awk '$2 != $3 { printf "%s live=%s replay=%s; ", $1, $2, $3 }')
if [ -z "$diffs" ] && [ "$live" = "$replay" ]; then
  say "same $n checks, exit $live"
else
  say "differ ${diffs}(exit live $live replay $replay)"
  exit 1
fi
