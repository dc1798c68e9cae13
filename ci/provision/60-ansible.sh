#!/usr/bin/env bash
# Ansible for the fleet role's test and lint (ansible/, tests/ansible_fleet.rs,
# ci/bench/ansible-fleet.sh): ansible-core and ansible-lint from PyPI, in a
# venv of their own (/opt/krc-ansible; Debian's system Python refuses pip
# installs). The `ansible` package is installed for the one collection the
# test needs beyond ansible-core, community.docker (the docker connection to
# its containers; Ansible Galaxy may be unreachable from CI). The commands
# are linked into /usr/local/bin. Idempotent: a second run with the same pins
# changes nothing.
set -euo pipefail
venv=${KRC_ANSIBLE_VENV:-/opt/krc-ansible}
# Pinned, so that two CI runs lint and test with the same Ansible.
# ansible 12.3.0 carries ansible-core 2.19 (Python >= 3.11, Debian 12's).
want="ansible==12.3.0 ansible-lint==26.10.1"
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
  else
    echo "60-ansible.sh: $py has no venv module; install it: sudo apt-get install -y python3-venv" >&2
    exit 1
  fi
fi
stamp=$venv/krc-pins
if [ ! -x "$venv/bin/ansible-playbook" ] || [ ! -x "$venv/bin/ansible-lint" ] ||
  [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing $want into $venv"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  # shellcheck disable=SC2086 # $want is two requirement words
  "$venv/bin/pip" install -q --disable-pip-version-check $want
  printf '%s' "$want" >"$stamp"
fi
for tool in ansible ansible-playbook ansible-galaxy ansible-inventory ansible-doc ansible-lint; do
  ln -sfn "$venv/bin/$tool" "/usr/local/bin/$tool"
done
"$venv/bin/ansible-playbook" --version | head -n1
"$venv/bin/ansible-doc" -t connection community.docker.docker >/dev/null ||
  { echo "60-ansible.sh: community.docker is missing from $venv; install it: $venv/bin/ansible-galaxy collection install community.docker" >&2; exit 1; }
