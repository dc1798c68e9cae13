#!/usr/bin/env bash
# Fuzzing (issue 16): builds every cargo-fuzz target in fuzz/ once with the
# nightly toolchain, runs each for SECONDS (default 30) from its committed
# seeds (fuzz/seeds/TARGET, read only; new inputs go to a temp dir) and
# fails if any target crashed, hung or ran out of memory, printing the one
# command that reproduces each failure. See docs/fuzzing.md.
#
#   bash ci/fuzz.sh [SECONDS] [TARGET...]
#
# Without nightly or cargo-fuzz (and no way to install them) it skips with
# the reason, unless KRC_REQUIRE_LAB=1, where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-30}
[ $# -gt 0 ] && shift
case $secs in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

# Flags of every build and run: the reproduce command must use the same.
# No sanitizer: krc has no unsafe parsing code for ASan to watch, and an
# ASan build of krc's dependency tree doubles the build on a 2-core runner
# (figures in docs/fuzzing.md). Debug assertions on: an integer overflow
# is a finding, not a silent wrap.
flags=(--sanitizer none --debug-assertions)
libfuzzer=(-rss_limit_mb=2048 -timeout=10)

unavailable() {
  echo "ci/fuzz.sh: $1" >&2
  if [ "${KRC_REQUIRE_LAB:-}" = 1 ]; then
    echo "ci/fuzz.sh: KRC_REQUIRE_LAB=1: fuzzing is required here" >&2
    exit 1
  fi
  echo "ci/fuzz.sh: skipping the fuzz run" >&2
  exit 0
}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "== no nightly toolchain: rustup toolchain install nightly --profile minimal"
  rustup toolchain install nightly --profile minimal ||
    unavailable "no nightly toolchain and rustup could not install one; run: rustup toolchain install nightly --profile minimal"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== no cargo-fuzz: cargo install cargo-fuzz --locked"
  cargo install cargo-fuzz --locked ||
    unavailable "cargo-fuzz is not installed and could not be; run: cargo install cargo-fuzz --locked"
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

start=$SECONDS
echo "== cargo +nightly fuzz build ${flags[*]} (${#targets[@]} targets)"
cargo +nightly fuzz build --fuzz-dir fuzz "${flags[@]}"
echo "== built in $((SECONDS - start)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  [ -d "fuzz/seeds/$t" ] || { echo "fuzz/seeds/$t: missing (commit a few seed inputs)" >&2; exit 1; }
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f | sort)
  echo "== $t: ${secs} s"
  if cargo +nightly fuzz run --fuzz-dir fuzz "${flags[@]}" "$t" "$scratch/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" "${libfuzzer[@]}" -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$scratch/$t.log" | tr '\n' ' '
    echo
  else
    # The panic (or libFuzzer's verdict: timeout, out of memory), not
    # cargo-fuzz's own backtrace.
    grep -E -A1 'panicked at|ERROR: libFuzzer|SUMMARY: libFuzzer' "$scratch/$t.log" ||
      tail -n 40 "$scratch/$t.log"
    failed+=("$t")
    new=$(comm -13 <(echo "$before") <(find "fuzz/artifacts/$t" -type f | sort))
    for a in $new; do
      echo "REPRODUCE: cargo +nightly fuzz run --fuzz-dir fuzz ${flags[*]} $t $a"
    done
    [ -n "$new" ] || echo "no artifact written: see the log above"
  fi
done

echo "== fuzzed ${#targets[@]} targets in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (each reproduce command is above; the inputs are in fuzz/artifacts/)" >&2
  exit 1
fi
