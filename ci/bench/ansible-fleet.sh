#!/usr/bin/env bash
# Benchmark: the wall time of the Ansible role (ansible/example-playbook.yml)
# on 1, 4 and 8 Debian 12 systemd containers with forks = hosts, through
# ci/lab/ansible-fleet.sh (the harness of tests/ansible_fleet.rs). Only the
# ansible-playbook run is timed: building the image and starting the
# containers are not. The goal: 8 hosts in at most 2x the time of one.
# Needs root, Docker and ansible-playbook (ci/provision/20-docker.sh,
# ci/provision/60-ansible.sh).
#
#   bash ci/bench/ansible-fleet.sh [--command install|preflight|run] [--hosts "1 4 8"]
#
# krc comes from target/dist/ when `bash ci/release/build.sh` built it,
# otherwise from the debug build ($CARGO_TARGET_DIR/debug/krc, stripped).
# Results: target/bench-ansible/N/ (logs with each task's time) and
# target/bench-ansible/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

command=install counts="1 4 8"
while [ $# -gt 0 ]; do
  case $1 in
    --command) command=$2; shift 2 ;;
    --hosts) counts=$2; shift 2 ;;
    *) echo "usage: $0 [--command install|preflight|run] [--hosts \"1 4 8\"]" >&2; exit 2 ;;
  esac
done
target=${CARGO_TARGET_DIR:-target}
if [ -f target/dist/SHA256SUMS ]; then
  src=(--dist target/dist)
else
  cargo build --quiet
  src=(--krc "$target/debug/krc")
fi
out=target/bench-ansible
mkdir -p "$out"
summary=$out/summary.txt
{
  echo "# ansible-fleet: krc $command, forks = hosts, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
  echo "# cpu: CPU seconds of the play: the controller (ansible-playbook and its"
  echo "# children), the hosts (the containers' cgroups), the Docker engine;"
  echo "# busy: that CPU over (wall time x cores), how full the cores were"
  printf '%-6s %-8s %-11s %-10s %-10s %-6s %s\n' hosts seconds controller hosts engine busy playbook-exit
} >"$summary"
one=""
for n in $counts; do
  rm -rf "${out:?}/$n"
  bash ci/lab/ansible-fleet.sh --out "$out/$n" "${src[@]}" --hosts "$n" --command "$command"
  secs=$(cat "$out/$n/wall.txt")
  [ -n "$one" ] || one=$secs
  read -r ctl hst eng < <(awk '{ printf "%s ", $2 } END { print "" }' "$out/$n/cpu.txt")
  busy=$(awk -v c="$ctl" -v h="$hst" -v e="$eng" -v w="$secs" -v k="$(nproc)" \
    'BEGIN { if (h == "n/a" || e == "n/a") print "n/a"; else printf "%d%%", 100 * (c + h + e) / (w * k) }')
  printf '%-6s %-8s %-11s %-10s %-10s %-6s %s\n' "$n" "$secs" "$ctl" "$hst" "$eng" "$busy" "$(cat "$out/$n/ansible.rc")" >>"$summary"
done
last=$secs
awk -v a="$one" -v b="$last" 'BEGIN { printf "# largest fleet / first: %.2fx (goal: <= 2x)\n", b / a }' >>"$summary"
cat "$summary"
