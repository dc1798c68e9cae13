#!/usr/bin/env bash
# A fleet of Debian 12 systemd containers (ci/lab/build-debian12-ansible.sh)
# driven by ansible-playbook with the repository's role: the harness of
# tests/ansible_fleet.rs and ci/bench/ansible-fleet.sh.
#
#   ci/lab/ansible-fleet.sh --out DIR (--krc BIN | --dist DIR) [--hosts N]
#       [--unfixable I[,I...]] [--session I[,I...]]
#       [--command preflight|install|run] [--forks N] [--keep]
#
# Hosts are named krc-fleet-PID-I (I = 1..N: inventory name, container name
# and hostname alike). A host listed in --unfixable starts with
# net.ipv4.ip_forward=0 in its network namespace, which nothing inside the
# container may change (/proc/sys is read-only there): `krc install` fails at
# its sysctl step and undoes its run, preflight fails sysctl.ip-forward.
# A host listed in --session has the user bob, logged in, before the play: a
# real logind session (a PAM "login" service of bob's, as pam_systemd
# registers any login), so `krc install` ends with exit 6 (delegation takes
# effect at the next login) and the role, with krc_relogin, ends the session
# and runs krc again.
# --krc BIN builds a dist directory of ci/release/build.sh's layout (tarball +
# SHA256SUMS) around BIN, stripped; --dist takes a real one (target/dist/).
# The k3s in the offline bundle is krc's stand-in (tests/data/standin/): no
# k3s can be downloaded here.
#
# DIR gets: inventory.ini, vars.json, ansible.log, ansible.rc (the playbook's
# exit status), wall.txt (seconds the playbook took), cpu.txt (CPU seconds
# the play cost: the controller's processes, the containers', the Docker
# engine's), reports/ (the role's
# fetch directory: HOST/COMMAND.{json,xml} and fleet.{json,xml,html}).
# Exit 0 when the playbook ran (whatever its status), 2 on bad usage, 1 when
# the fleet could not be set up. The containers are removed on exit, unless
# --keep: then DIR/containers.txt names them and the caller removes them.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { echo "usage: $0 --out DIR (--krc BIN | --dist DIR) [--hosts N] [--unfixable I,...] [--session I,...] [--command CMD] [--forks N] [--keep]" >&2; exit 2; }
die() { echo "ansible-fleet.sh: $*" >&2; exit 1; }
out="" krc="" dist="" hosts=3 unfixable="" session="" command=install forks="" keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --krc) krc=$2; shift 2 ;;
    --dist) dist=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    --unfixable) unfixable=$2; shift 2 ;;
    --session) session=$2; shift 2 ;;
    --command) command=$2; shift 2 ;;
    --forks) forks=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) usage ;;
  esac
done
[ -n "$out" ] && { [ -n "$krc" ] || [ -n "$dist" ]; } || usage
[[ $hosts =~ ^[1-9][0-9]*$ ]] || usage
forks=${forks:-$hosts}
command -v ansible-playbook >/dev/null || die "ansible-playbook not found; run: bash ci/provision/60-ansible.sh"
docker version >/dev/null 2>&1 || die "no Docker engine answers; run: bash ci/provision/20-docker.sh"
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -n "$krc" ]; then krc=$(cd "$(dirname "$krc")" && pwd)/$(basename "$krc"); fi
if [ -n "$dist" ]; then dist=$(cd "$dist" && pwd); fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)

# The dist directory.
if [ -z "$dist" ]; then
  dist=$out/dist
  name=krc-$version-x86_64-unknown-linux-gnu
  rm -rf "$dist" && mkdir -p "$dist/stage/$name"
  strip -o "$dist/stage/$name/krc" "$krc" 2>/dev/null || cp "$krc" "$dist/stage/$name/krc"
  chmod 0755 "$dist/stage/$name/krc"
  tar -C "$dist/stage" -czf "$dist/$name.tar.gz" "$name"
  rm -rf "$dist/stage"
  (cd "$dist" && sha256sum "$name.tar.gz" >SHA256SUMS)
fi
# The controller runs the merge with the same krc.
if [ -n "$krc" ]; then
  controller_krc=$krc
else
  controller_krc=$out/controller-krc
  tar -xzf "$dist/krc-$version-x86_64-unknown-linux-gnu.tar.gz" -O \
    "krc-$version-x86_64-unknown-linux-gnu/krc" >"$controller_krc"
  chmod 0755 "$controller_krc"
fi

# The offline bundle and its pins (docs/install.md), from the stand-in.
bundle=$out/bundle
rm -rf "$bundle" && mkdir -p "$bundle"
cp tests/data/standin/install.sh tests/data/standin/k3s tests/data/standin/k3s-rootless.service "$bundle/"
k3s_version=v1.33.5+k3s1
printf '%s  k3s\n%064d  k3s-arm64\n' "$(sha256sum "$bundle/k3s" | cut -c1-64)" 0 >"$bundle/sha256sum-amd64.txt"
sum() { sha256sum "$1" | cut -c1-64; }
cat >"$out/pins.toml" <<PINS
ref = "$k3s_version"
stand_in = "no k3s can be downloaded on this machine; the bundle carries krc's stand-in script"
[sha256]
"install.sh" = "$(sum "$bundle/install.sh")"
"k3s" = "$(sum "$bundle/k3s")"
"sha256sum-amd64.txt" = "$(sum "$bundle/sha256sum-amd64.txt")"
"k3s-rootless.service" = "$(sum "$bundle/k3s-rootless.service")"
PINS

image=$(bash ci/lab/build-debian12-ansible.sh 2>"$out/image.log" | tail -n1) ||
  die "ci/lab/build-debian12-ansible.sh failed; see $out/image.log"
[[ $image == *:* ]] || die "ci/lab/build-debian12-ansible.sh gave no image"
# systemd needs a cgroup2 at /sys/fs/cgroup: the host's own on a pure v2
# host, its unified hierarchy on a hybrid one (as tests/install_container.rs).
cgroup=/sys/fs/cgroup
grep -q ' /sys/fs/cgroup/unified .* - cgroup2 ' /proc/self/mountinfo && cgroup=/sys/fs/cgroup/unified

prefix=krc-fleet-$$
names=()
cleanup() {
  if [ "$keep" = 1 ]; then printf '%s\n' "${names[@]}" >"$out/containers.txt"; return; fi
  [ ${#names[@]} -eq 0 ] || docker rm -f "${names[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for i in $(seq 1 "$hosts"); do
  n=$prefix-$i
  names+=("$n")
  extra=()
  case ",$unfixable," in *",$i,"*) extra=(--sysctl net.ipv4.ip_forward=0) ;; esac
  # The flags of tests/install_container.rs (--privileged fails here).
  docker run -d --name "$n" --hostname "$n" "${extra[@]}" \
    --cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns host \
    -v "$cgroup:/sys/fs/cgroup" --tmpfs /run --tmpfs /run/lock "$image" >/dev/null
done
for n in "${names[@]}"; do
  # The device nodes a normal host has (0666, as Debian ships them).
  # systemd's bus may not answer yet right after the start: ask again, for
  # 90 s at most.
  docker exec "$n" sh -c '
    for _ in $(seq 1 90); do
      case $(systemctl is-system-running --wait 2>/dev/null) in running|degraded) break ;; esac
      sleep 1
    done
    case $(systemctl is-system-running 2>&1) in running|degraded) ;; *) exit 1 ;; esac
    mkdir -p /dev/net && mknod -m 666 /dev/net/tun c 10 200 && mknod -m 666 /dev/fuse c 10 229' ||
    die "systemd in container $n did not reach running within 90 s; see: docker logs $n"
done
for i in $(seq 1 "$hosts"); do
  case ",$session," in *",$i,"*) ;; *) continue ;; esac
  n=$prefix-$i
  docker exec "$n" sh -c '
    useradd --create-home --shell /bin/bash bob &&
    systemd-run --quiet -p PAMName=login -p User=bob --unit krc-fleet-login sleep infinity &&
    for _ in $(seq 1 50); do
      grep -q "^ONLINE_SESSIONS=." "/run/systemd/users/$(id -u bob)" 2>/dev/null && exit 0
      sleep 0.2
    done
    exit 1' || die "no logind session for bob in container $n"
done

{
  echo "[krc_hosts]"
  for n in "${names[@]}"; do echo "$n ansible_connection=community.docker.docker ansible_host=$n"; done
} >"$out/inventory.ini"
# --force: on a cgroup-hybrid machine (this lab's) a container's cgroup v2
# root offers no controllers, a requirement no install step fixes; krc
# refuses without it. It changes nothing on a pure cgroup v2 machine.
cat >"$out/vars.json" <<VARS
{
  "krc_dist_dir": "$dist",
  "krc_version": "$version",
  "krc_command": "$command",
  "krc_user": "bob",
  "krc_user_create": true,
  "krc_offline_src": "$bundle",
  "krc_pins_src": "$out/pins.toml",
  "krc_k3s_version": "$k3s_version",
  "krc_args": $( [ "$command" = preflight ] && echo '[]' || echo '["--force"]' ),
  "krc_fetch_dir": "$out/reports",
  "krc_controller_bin": "$controller_krc",
  "krc_relogin": $( [ -n "$session" ] && echo true || echo false ),
  "krc_timeout": 600
}
VARS

export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
export ANSIBLE_LOCAL_TEMP=$out/ansible-tmp ANSIBLE_RETRY_FILES_ENABLED=0
# Each task's time in the log (where the wall time goes).
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
# One exec per module instead of put + exec + remove.
export ANSIBLE_PIPELINING=1
# Where the CPU goes, for ci/bench/ansible-fleet.sh: this machine's cores
# are shared by the controller, the engine and every container, so the wall
# time of N hosts says little without it.
tick=$(getconf CLK_TCK)
# CPU seconds a process used itself (not its children: what the engine's
# shims reap ran in a container and is counted there).
proc_cpu() { awk -v t="$tick" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU seconds a container used (its cgroup v1 cpuacct: every process in it,
# `docker exec`'s too); "n/a" where the machine has no such accounting.
container_cpu() {
  local pid cg f
  pid=$(docker inspect -f '{{.State.Pid}}' "$1" 2>/dev/null) || { echo n/a; return; }
  cg=$(sed -n 's/^[0-9]*:[^:]*cpuacct[^:]*:\(.*\)$/\1/p' "/proc/$pid/cgroup" | head -n1)
  for f in "/sys/fs/cgroup/cpu,cpuacct$cg/cpuacct.usage" "/sys/fs/cgroup/cpuacct$cg/cpuacct.usage"; do
    if [ -n "$cg" ] && [ -r "$f" ]; then awk '{ printf "%.2f\n", $1 / 1e9 }' "$f"; return; fi
  done
  echo n/a
}
fleet_cpu() {
  local n sum=0 c
  for n in "${names[@]}"; do
    c=$(container_cpu "$n")
    [ "$c" = n/a ] && { echo n/a; return; }
    sum=$(awk -v a="$sum" -v b="$c" 'BEGIN { printf "%.2f", a + b }')
  done
  echo "$sum"
}
engine_cpu() {
  local sum=0 p
  for p in $(pgrep -x dockerd) $(pgrep -x containerd) $(pgrep -f containerd-shim); do
    sum=$(awk -v a="$sum" -v b="$(proc_cpu "$p")" 'BEGIN { printf "%.2f", a + b }')
  done
  echo "$sum"
}
hosts0=$(fleet_cpu) engine0=$(engine_cpu)
start=$(date +%s.%N)
# A subshell, so its reaped children's CPU (ansible-playbook and every
# process it started) is its own, read from /proc when the play is over.
(
  set +e
  ansible-playbook -i "$out/inventory.ini" -f "$forks" -e "@$out/vars.json" \
    ansible/example-playbook.yml >"$out/ansible.log" 2>&1
  echo "$?" >"$out/ansible.rc"
  awk -v t="$tick" '{ printf "%.2f\n", ($16 + $17) / t }' "/proc/$BASHPID/stat" >"$out/controller-cpu.txt"
)
end=$(date +%s.%N)
hosts1=$(fleet_cpu) engine1=$(engine_cpu)
rc=$(cat "$out/ansible.rc")
awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' >"$out/wall.txt"
delta() { if [ "$1" = n/a ] || [ "$2" = n/a ]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; fi; }
{
  echo "controller $(awk '{ printf "%.1f", $1 }' "$out/controller-cpu.txt")"
  echo "hosts $(delta "$hosts0" "$hosts1")"
  echo "engine $(delta "$engine0" "$engine1")"
} >"$out/cpu.txt"
echo "ansible-playbook: $hosts host(s), forks $forks, exit $rc, $(cat "$out/wall.txt") s; CPU s: $(tr '\n' ' ' <"$out/cpu.txt"); log: $out/ansible.log" >&2
