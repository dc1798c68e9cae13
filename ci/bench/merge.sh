#!/usr/bin/env bash
# Benchmark: `krc report merge` of 1,000 host reports (JUnit, HTML and
# JSON written) in a release build. Target: <= 2 s wall time.
# The reports are real: one `krc preflight --json` per fixture host, then
# each copy varied per host (hostname, host id, distribution, kernel, and
# every 7th host failing its IP-forwarding check, every 13th one not
# judged), as a fleet of mixed hosts would send them.
# Needs hyperfine (Debian: hyperfine) and python3.
#
#   bash ci/bench/merge.sh [--hosts N] [--runs N]
#
# CARGO_TARGET_DIR is honoured (the binary is $CARGO_TARGET_DIR/release/krc).
set -euo pipefail
cd "$(dirname "$0")/../.."

hosts=1000 runs=10
while [ $# -gt 0 ]; do
  case $1 in
    --hosts) hosts=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--hosts N] [--runs N]" >&2; exit 2 ;;
  esac
done

cargo build --release --quiet
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/krc
work=$target/bench-merge
rm -rf "$work"
mkdir -p "$work/seed" "$work/hosts" "$work/out"

# Real reports of a passing, a failing and a warning host to vary.
for f in ready-v2 ip-forward-off ubuntu2404-apparmor docker-host hybrid; do
  "$bin" preflight -q --root "fixtures/hosts/$f" --json "$work/seed/$f.json" >/dev/null || true
done

python3 - "$work/seed" "$work/hosts" "$hosts" <<'PY'
import hashlib, json, os, sys
seed, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
seeds = [json.load(open(os.path.join(seed, f))) for f in sorted(os.listdir(seed))]
distros = [("debian", "12"), ("debian", "11"), ("ubuntu", "24.04"), ("ubuntu", "22.04"), ("rocky", "9.4")]
for i in range(n):
    d = json.loads(json.dumps(seeds[i % len(seeds)]))
    m = d["meta"]
    m["hostname"] = f"node-{i:04d}.lab.example"
    m["host_id"] = hashlib.sha256(f"bench {i}".encode()).hexdigest()[:16]
    dist = distros[i % len(distros)]
    m["distribution"] = {"id": dist[0], "version_id": dist[1]}
    m["kernel"] = f"6.1.0-{i % 40}-amd64"
    checks = d["phases"][0]["checks"]
    if i % 7 == 3:
        for c in checks:
            if c["id"] == "sysctl.ip-forward":
                c["status"] = "fail"
                c["summary"] = "net.ipv4.ip_forward is 0"
                c["evidence"].append(f"/proc/sys/net/ipv4/ip_forward: 0 (host {i})")
                c["remedy"] = "echo 'net.ipv4.ip_forward = 1' | sudo tee /etc/sysctl.d/90-k3s.conf && sudo sysctl --system"
        d["passed"] = False
    elif i % 13 == 5:
        for c in checks:
            if c["id"] == "net.slirp4netns":
                c["status"] = "skip"
                c["unjudged"] = True
    with open(os.path.join(out, f"node-{i:04d}.json"), "w") as f:
        json.dump(d, f, indent=2)
PY

echo "== $hosts reports, $(du -sh "$work/hosts" | cut -f1) in all"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
merge=("$bin" report merge -q "$work"/hosts/*.json --junit "$work/out/fleet.xml" --html "$work/out/fleet.html" --json "$work/out/fleet.json")
# The fleet has failed hosts: exit status 1 is the result, not an error.
hyperfine --warmup 1 --runs "$runs" --ignore-failure --export-json "$work/hyperfine.json" \
  -N -n merge "${merge[*]}"
python3 - "$work/hyperfine.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"merge of the fleet: median {r['median']:.3f} s (mean {r['mean']:.3f}, max {r['max']:.3f}) (target <= 2 s)")
# CPU time does not grow with the machine's load as wall time does: on a
# busy machine it says what the merge itself costs.
print(f"CPU time: user {r['user']:.3f} s + system {r['system']:.3f} s (means)")
PY
ls -la "$work/out"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
