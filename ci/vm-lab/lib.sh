# Shared helpers for the VM lab scripts (sourced, not run).
# shellcheck shell=bash

log() { printf '[vm-lab %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The lab's cache of built images; outside the repository so `git clean`
# and fresh clones on the same machine reuse it.
lab_cache() { printf '%s\n' "${KRC_LAB_CACHE:-/var/cache/krc-lab}"; }

# The Debian suite of a release number the lab runs.
lab_suite() {
  case $1 in
    11) echo bullseye ;;
    12) echo bookworm ;;
    13) echo trixie ;;
    *) return 1 ;;
  esac
}

# The Debian mirror the guest image is built from: KRC_LAB_MIRROR, else the
# first `deb` URI the host's own apt uses (so the lab needs no address of
# its own and follows whatever mirror or proxy the machine is set up with).
lab_mirror() {
  if [ -n "${KRC_LAB_MIRROR:-}" ]; then printf '%s\n' "$KRC_LAB_MIRROR"; return; fi
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -v -- '-security' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
          /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$uri" ] || die "no Debian mirror found in the host's apt sources; set KRC_LAB_MIRROR=URL"
  printf '%s\n' "$uri"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND once a second until
# it succeeds; fails after SECONDS. Every wait in the lab has a cap.
wait_for() {
  local cap=$1 what=$2; shift 2
  local deadline=$((SECONDS + cap))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "gave up after ${cap}s waiting for $what"
      return 1
    fi
    sleep 1
  done
}
