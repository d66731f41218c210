#!/usr/bin/env bash
# Hardening checks (issue 12), after the main test run (scripts/test.sh calls this):
#   asan  ASan+UBSan (clang) over the unit and integration tests              -> <build>/build-asan
#   tsan  ThreadSanitizer (clang) over the threaded tests: token refresh, delivery callbacks, concurrent
#         produce, stop()/close() from other threads, signal handlers, the supervisor -> <build>/build-tsan
#   fuzz  a short run of every fuzz target (scripts/fuzz.sh)                  -> <build>/build-fuzz
# Usage: scripts/check-hardening.sh [BUILD_DIR]   (default: $GRACEDB_BUILD_DIR or build/)
#   GRACEDB_HARDENING=asan,tsan,fuzz  the parts to run (default all; "off" runs none, with a warning)
#   GRACEDB_FUZZ_SECONDS=10           per fuzz target
# The long fuzz run is scripts/fuzz.sh --seconds 600. Exit status: non-zero when a sanitizer or a fuzzer found
# something or a build failed; a part whose tool is missing is skipped with a WARNING line, exit 0.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(realpath -m "${1:-${GRACEDB_BUILD_DIR:-$root/build}}")
parts=${GRACEDB_HARDENING:-asan,tsan,fuzz}
fuzz_seconds=${GRACEDB_FUZZ_SECONDS:-10}
jobs=$(nproc)
summary=()
failed=0
t_all=$(date +%s)

say() { echo "check-hardening: $*"; }
warn() { echo "check-hardening: WARNING: $*"; summary+=("SKIPPED  $*"); }
if [[ $parts == off ]]; then
  warn "all hardening checks are off (GRACEDB_HARDENING=off)"
  exit 0
fi

cxx=$(command -v clang++-14 || command -v clang++ || true)
cc=$(command -v clang-14 || command -v clang || true)
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int main() { return 0; }' > "$probe/p.cpp"
can() { [[ -n $cxx ]] && "$cxx" "-fsanitize=$1" "$probe/p.cpp" -o "$probe/p" 2>/dev/null; }

kafka_libs=()
[[ -d $build/rig/kafka-libs ]] && kafka_libs=(-DGRACEDB_KAFKA_LIBS="$build/rig/kafka-libs")  # no second download

# configure <dir> <sanitizers>; build <dir> <targets...>
configure() {
  cmake -S "$root" -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
    -DGRACEDB_SANITIZE="$2" -DGRACEDB_WARNINGS_AS_ERRORS=OFF -DGRACEDB_BUILD_EXAMPLES=OFF -DGRACEDB_BUILD_BENCH=OFF \
    "${kafka_libs[@]}" >"$1.configure.log" 2>&1 || { tail -20 "$1.configure.log"; return 1; }
}
build() {
  local dir=$1; shift
  cmake --build "$dir" -j "$jobs" --target "$@" >"$dir/build.log" 2>&1 || { tail -30 "$dir/build.log"; return 1; }
}
# run_ctest <dir> <name> <ctest args...>: the rig's broker of this build dir is stopped however ctest ends.
run_ctest() {
  local dir=$1 name=$2; shift 2
  local rc=0
  (cd "$dir" && ctest --output-on-failure -j 2 "$@" >"$dir/ctest.log" 2>&1) || rc=$?
  "$root/tests/rig/kafka-rig.sh" stop "$dir/rig/broker" >/dev/null 2>&1 || true
  local counts
  counts=$(grep -E "tests passed|tests failed" "$dir/ctest.log" | tail -1 || true)
  if ((rc == 0)); then
    summary+=("ok       $name: ${counts:-?} ($(( $(date +%s) - t_part )) s)")
  else
    failed=1
    summary+=("FAILED   $name: ${counts:-?} ($(( $(date +%s) - t_part )) s; log $dir/ctest.log)")
    grep -E "ERROR: (Address|Leak)Sanitizer|runtime error|WARNING: ThreadSanitizer|SUMMARY: |\*\*\*Failed|Timeout" \
      "$dir/ctest.log" | sort | uniq -c | sort -rn | head -20 || true
    # What each failed test printed (ctest --output-on-failure puts it after the test's status line), so a CI
    # log alone says why: gtest's failures and the sanitizer's report, at most 80 lines a test.
    awk '/\*\*\*(Failed|Timeout|Exception)/ {n = 80; print "---- " $0; next}
         n > 0 && /^ *([0-9]+\/[0-9]+ Test +#|Start +[0-9]+:)/ {n = 0}
         n > 0 && /(Failure|FAILED|Expected|Which is|Value of|Actual|ThreadSanitizer|AddressSanitizer|runtime error|SUMMARY|    #[0-9]|^  )/ {print; n--}' \
      "$dir/ctest.log" | head -400 || true
  fi
}

# --- ASan + UBSan: unit and integration tests ---------------------------------------------------------
if [[ $parts == *asan* ]]; then
  t_part=$(date +%s)
  if ! can address,undefined; then
    warn "ASan+UBSan SKIPPED: ${cxx:-clang++} cannot build with -fsanitize=address,undefined (apt-get install clang-14)"
  else
    say "ASan+UBSan: building the tests in $build/build-asan"
    dir=$build/build-asan
    # The fuzz targets' seed replays (unit.fuzz_seeds.*) run under the sanitizers too.
    mapfile -t replays < <(grep -o 'fuzz_[a-z0-9_]*' "$root/fuzz/targets.cmake" | sed 's/^/replay_/')
    if configure "$dir" address,undefined &&
       build "$dir" gracedb_unit_tests gracedb_internal_tests gracedb_integration_tests rig-tool stream_probe \
         gracedb-kafka \
             standin_server "${replays[@]}"
    then
      say "ASan+UBSan: running unit and integration tests (the 3-minute token soak runs under TSan instead)"
      # Leaks: on. A sanitizer finding fails the test that made it (-fno-sanitize-recover=all, halt_on_error).
      ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest "$dir" "ASan+UBSan unit+integration" -L 'unit|integration' -E 'Soak'
    else
      failed=1; summary+=("FAILED   ASan+UBSan build (log $dir/build.log)")
    fi
  fi
fi

# --- ThreadSanitizer: the threaded tests -----------------------------------------------------------------
if [[ $parts == *tsan* ]]; then
  t_part=$(date +%s)
  if ! can thread; then
    warn "TSan SKIPPED: ${cxx:-clang++} cannot build with -fsanitize=thread (apt-get install clang-14)"
  else
    say "TSan: building the threaded tests in $build/build-tsan"
    dir=$build/build-tsan
    if configure "$dir" thread &&
       build "$dir" gracedb_unit_tests gracedb_internal_tests gracedb_integration_tests rig-tool stream_probe \
         gracedb-kafka
    then
      say "TSan: running the threaded tests"
      # The supervisor's threads are covered by unit.SupervisorMock (its worker pool, committer, rebalances);
      # integration.SupervisorBurst (1,000 events through instrumented supervisor processes) was too slow under
      # TSan to finish within its deadlines on 2 cores (320 of 1,000 in 120 s, seen once), so it runs unsanitized
      # in the main suite and under ASan only.
      threaded='^unit\.(Concurrency|CloseThreads|ProducerMock|ProducerHeal|ConsumerMock|ReservationWindow\.(AFollowUp|TheBound)|SupervisorMock|SupervisorPartitions|ConsumerInterrupt|ConsumerRegroup|ProducerInterrupt|StopSignals|Log)|^integration\.(TokenRefresh|Producer|Consumer|SecretHygiene)'
      TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/sanitizers/tsan.supp" \
        run_ctest "$dir" "TSan threaded tests" -R "$threaded"
    else
      failed=1; summary+=("FAILED   TSan build (log $dir/build.log)")
    fi
  fi
fi

# --- fuzzing: a short run of every target ----------------------------------------------------------------
if [[ $parts == *fuzz* ]]; then
  t_part=$(date +%s)
  say "fuzz: ${fuzz_seconds} s per target (the long run: scripts/fuzz.sh --seconds 600)"
  out=$("$root/scripts/fuzz.sh" --build "$build" --seconds "$fuzz_seconds" 2>&1) && rc=0 || rc=$?
  echo "$out"
  if [[ $out == *WARNING:* ]]; then
    warn "$(grep -m1 WARNING: <<<"$out" | sed 's/^fuzz.sh: WARNING: //')"
  elif ((rc == 0)); then
    summary+=("ok       fuzz: $(grep -c ' clean$' <<<"$out") targets clean, $(awk 'NR>1 && $2 ~ /^[0-9]+$/ {s+=$2} END {print s+0}' <<<"$out") executions ($(( $(date +%s) - t_part )) s)")
  else
    failed=1; summary+=("FAILED   fuzz: see above")
  fi
fi

echo
echo "check-hardening: summary ($(( $(date +%s) - t_all )) s in all)"
for line in "${summary[@]}"; do echo "  $line"; done
exit $failed
