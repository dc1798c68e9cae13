#!/bin/bash
# Runs in the lab guest as the unprivileged user, inside a login session,
# once per boot; picks up where the previous boot stopped. Each step leaves
# its exit status in steps/NAME.rc (or the reason it did not run in
# steps/NAME.not-run) and its reports beside it; the host judges them.
#
#   version    krc --version: the packaged binary runs here
#   pre        krc preflight on the fresh guest
#   install    krc install --yes --offline BUNDLE (again after each reboot it
#              asks for with exit 3, and after each re-login it asks for
#              with exit 6; at most 3 attempts)
#   post       krc preflight after the install
#   uninstall  krc uninstall --yes (a reboot when it asks for one)
#   final      krc preflight after the uninstall
set -uo pipefail
in=/var/lib/krc-lab/in
out=/var/lib/krc-lab/out
steps=$out/steps
# krc as the .deb installed it; the self-test's stand-in wraps it.
krc=/usr/bin/krc
[ -x /usr/local/bin/krc-standin ] && krc=/usr/local/bin/krc-standin
boot=$(cat /var/lib/krc-lab/boots)
mkdir -p "$steps"
exec >>"$out/lab-steps.log" 2>&1
echo "== lab-steps: $(id -un) (uid $(id -u)), boot $boot, $(date -u +%H:%M:%SZ)"

# The session krc runs in, as the user sees it.
uid=$(id -u)
{
  echo "XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-unset}"
  echo "systemctl --user is-system-running: $(timeout 20 systemctl --user is-system-running 2>&1)"
  echo "delegated: $(cat "/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service/cgroup.controllers" 2>&1)"
  echo "sudo -n true: $(timeout 20 sudo -n true 2>&1 && echo ok)"
} >"$out/session-boot$boot.txt"

ran() { [ -f "$steps/$1.rc" ] || [ -f "$steps/$1.not-run" ]; }
next() { echo "$1" >"$out/next"; }
not_run() { # not_run REASON STEP...
  local reason=$1; shift
  for s in "$@"; do ran "$s" || echo "$reason" >"$steps/$s.not-run"; done
}

# run_step NAME CAP CMD...: runs CMD with a cap, keeps its output and status.
run_step() {
  local name=$1 cap=$2; shift 2
  echo "-- $name: $*"
  timeout "$cap" "$@" </dev/null >"$out/$name.txt" 2>&1
  local rc=$?
  [ "$rc" = 124 ] && echo "(killed after ${cap}s)" >>"$out/$name.txt"
  echo "-- $name: exit status $rc"
  return "$rc"
}

preflight() { # preflight NAME
  run_step "$1" 600 "$krc" preflight --junit "$out/$1.xml" --json "$out/$1.json"
  echo $? >"$steps/$1.rc"
}

# The binary runs here, or nothing else can: say why, once.
if ! ran version; then
  if [ -x /usr/bin/krc ]; then
    run_step version 60 /usr/bin/krc --version
    echo $? >"$steps/version.rc"
  else
    { echo "/usr/bin/krc is not installed: the .deb did not install:"; tail -n 5 "$out/deb-install.txt"; } >"$out/version.txt" 2>&1
    echo 127 >"$steps/version.rc"
  fi
fi
if [ "$(cat "$steps/version.rc")" != 0 ]; then
  not_run "the binary cannot run here: $(head -n1 "$out/version.txt")" pre install post uninstall final
  next "done"
  exit 0
fi

ran pre || preflight pre

# Steps 2-4 need `krc install`. A krc without that command cannot run
# them, and the lab says so instead of calling them passed; any other
# failure of `krc install --help` is a failure of the install step.
if ! help=$("$krc" install --help 2>&1); then
  if printf '%s' "$help" | grep -q "unrecognized subcommand 'install'"; then
    not_run "the krc under test has no 'install' command (\`krc install --help\`: $(printf '%s\n' "$help" | head -n1))" \
      install post uninstall final
  else
    printf '%s\n' "$help" >"$out/install-1.txt"
    echo 1 >"$steps/install.attempts"
    echo 2 >"$steps/install.rc"
    not_run "\`krc install --help\` failed: $(printf '%s\n' "$help" | head -n1)" post uninstall final
  fi
  next "done"
  exit 0
fi

if ! ran install; then
  attempt=$(( $(cat "$steps/install.attempts" 2>/dev/null || echo 0) + 1 ))
  echo "$attempt" >"$steps/install.attempts"
  run_step "install-$attempt" 1200 "$krc" install --yes --offline "$in/bundle" \
    --pins "$in/bundle/pins.toml" --k3s-version "$(cat "$in/k3s-version")" \
    --junit "$out/install-$attempt.xml" --json "$out/install-$attempt.json"
  rc=$?
  if [ "$rc" = 3 ] && [ "$attempt" -lt 3 ]; then
    echo "-- install asks for a reboot (exit 3): rebooting, then running it again"
    next reboot
    exit 0
  fi
  if [ "$rc" = 6 ] && [ "$attempt" -lt 3 ]; then
    echo "-- install asks for a re-login (exit 6): logging out and in, then running it again"
    echo "$attempt" >>"$steps/install.relogins"
    next relogin
    exit 0
  fi
  echo "$rc" >"$steps/install.rc"
  if [ "$rc" != 0 ]; then
    not_run "krc install failed with exit status $rc (see install-$attempt.txt)" post uninstall final
    next "done"
    exit 0
  fi
fi

ran post || preflight post

if ! ran uninstall; then
  run_step uninstall 900 "$krc" uninstall --yes
  rc=$?
  echo "$rc" >"$steps/uninstall.rc"
  if [ "$rc" = 3 ]; then
    echo "-- uninstall asks for a reboot (exit 3)"
    next reboot
    exit 0
  fi
  # The user's manager keeps the delegated controllers until the next
  # login (krc does not end this session): judge the guest after it.
  if [ "$rc" = 0 ] && grep -q "next login:" "$out/uninstall.txt"; then
    echo "-- uninstall: delegation goes at the next login: logging out and in"
    next relogin
    exit 0
  fi
fi

ran final || preflight final
next "done"
