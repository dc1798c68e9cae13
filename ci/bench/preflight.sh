#!/usr/bin/env bash
# Benchmark: the whole `krc preflight` (full catalogue, live probes
# included) in a release build on this host. Targets: <= 25 ms median wall,
# <= 15 MB peak RSS. Needs hyperfine and GNU time (Debian: hyperfine, time).
#
#   bash ci/bench/preflight.sh [--user NAME]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
bin=target/release/krc
args=(preflight -q "$@")

echo "== wall time (hyperfine, 5 warm-up runs, 50 runs)"
# krc exits 1 when a required check fails; that is a result, not an error.
hyperfine --warmup 5 --runs 50 --ignore-failure --export-json target/bench-preflight.json \
  "$bin ${args[*]}"
python3 - <<'PY'
import json
r = json.load(open("target/bench-preflight.json"))["results"][0]
print(f"median wall: {r['median']*1000:.1f} ms (mean {r['mean']*1000:.1f} ms, max {r['max']*1000:.1f} ms)")
PY

echo "== peak RSS (GNU time, 20 runs)"
peak=0
for _ in $(seq 20); do
  /usr/bin/time -f '%M' -o target/bench-rss.txt "$bin" "${args[@]}" >/dev/null 2>&1 || true
  kb=$(tail -1 target/bench-rss.txt)
  [ "$kb" -gt "$peak" ] && peak=$kb
done
echo "peak RSS: $((peak / 1024)) MB ($peak KiB)"
