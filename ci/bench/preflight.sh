#!/usr/bin/env bash
# Benchmark: the whole `krc preflight` (full catalogue, live probes
# included) in a release build on this host, in one paired hyperfine run
# with docker's check-config.sh and with the same catalogue on a fixture
# tree. Targets: live >= 100x faster than check-config.sh, live within 3x
# of the fixture run, <= 15 MB peak RSS.
# Needs hyperfine, GNU time and docker's check-config.sh (Debian: hyperfine,
# time, docker.io); it is run where the package put it, never copied here.
#
#   bash ci/bench/preflight.sh [--user NAME] [--runs N] [--fixture DIR]
#
# CARGO_TARGET_DIR is honoured (the binary is $CARGO_TARGET_DIR/release/krc).
set -euo pipefail
cd "$(dirname "$0")/../.."

user=() runs=50 fixture=fixtures/hosts/ready-v2
while [ $# -gt 0 ]; do
  case $1 in
    --user) user=(--user "$2"); shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --fixture) fixture=$2; shift 2 ;;
    *) echo "usage: $0 [--user NAME] [--runs N] [--fixture DIR]" >&2; exit 2 ;;
  esac
done
check_config=${CHECK_CONFIG:-/usr/share/docker.io/contrib/check-config.sh}
[ -r "$check_config" ] || { echo "$check_config: not found (Debian: apt-get install docker.io)" >&2; exit 2; }

cargo build --release --quiet
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/krc
out=$target/bench-preflight.json
live=("$bin" preflight -q "${user[@]}")
tree=("$bin" preflight -q --root "$fixture")

# The machine's load goes with the figures: other builds or VMs slow
# check-config.sh (hundreds of processes) far more than krc.
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== wall time (hyperfine, paired: 3 warm-up runs, $runs runs each)"
# krc exits 1 when a required check fails, check-config.sh when a feature
# is missing: results, not errors.
hyperfine --warmup 3 --runs "$runs" --ignore-failure --export-json "$out" \
  -N -n live "${live[*]}" \
  -n fixture "${tree[*]}" \
  -n check-config.sh "bash $check_config"
python3 - "$out" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda n: r[n]["median"] * 1000
for n in ("live", "fixture", "check-config.sh"):
    print(f"{n:>16}: median {ms(n):8.2f} ms (mean {r[n]['mean']*1000:.2f}, max {r[n]['max']*1000:.2f})")
print(f"check-config.sh / live: {ms('check-config.sh') / ms('live'):.0f}x (target >= 100x)")
print(f"live / fixture:         {ms('live') / ms('fixture'):.2f}x (target <= 3x)")
PY

echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== peak RSS of live preflight (GNU time, 20 runs)"
peak=0
for _ in $(seq 20); do
  /usr/bin/time -f '%M' -o "$target/bench-rss.txt" "${live[@]}" >/dev/null 2>&1 || true
  kb=$(tail -1 "$target/bench-rss.txt")
  [ "$kb" -gt "$peak" ] && peak=$kb
done
echo "peak RSS: $((peak / 1024)) MB ($peak KiB) (target <= 15 MB)"
