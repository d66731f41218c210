#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan+UBSan, in <build>/build-fuzz) and runs each for a while.
# Usage: scripts/fuzz.sh [--seconds N] [--build DIR] [target ...]
#   --seconds N  per target (default 10: the short CI run; the long run is e.g. --seconds 600)
#   --build DIR  the build dir under which build-fuzz is made (default $GRACEDB_BUILD_DIR or build/)
#   target       some of the targets listed in fuzz/targets.cmake (default all)
# Seeds: fuzz/corpus/<target>/ (committed, read only). New inputs go to <build>/build-fuzz/corpus/<target>/
# (kept between runs, so long runs build on each other); crashes to <build>/build-fuzz/artifacts/.
# Exit status: 0 when every target ran clean, 1 on a finding, 0 with a WARNING line when clang or its
# libFuzzer runtime is missing (the run is skipped, loudly).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GRACEDB_BUILD_DIR:-$root/build}
seconds=10
targets=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$(realpath -m "$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || mapfile -t targets < <(grep -o 'fuzz_[a-z0-9_]*' "$root/fuzz/targets.cmake")

cxx=$(command -v clang++-14 || command -v clang++ || true)
cc=$(command -v clang-14 || command -v clang || true)
if [[ -z $cxx || -z $cc ]]; then
  echo "fuzz.sh: WARNING: SKIPPED all fuzz targets: clang is not installed (apt-get install clang-14)"
  exit 0
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
  echo "fuzz.sh: WARNING: SKIPPED all fuzz targets: $cxx cannot link libFuzzer with ASan+UBSan" \
       "(apt-get install libclang-rt-14-dev): $(head -1 "$probe/err")"
  exit 0
fi

dir=$build/build-fuzz
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
  -DGRACEDB_SANITIZE=address,undefined -DGRACEDB_BUILD_FUZZERS=ON -DGRACEDB_WARNINGS_AS_ERRORS=OFF \
  -DGRACEDB_BUILD_TESTS=OFF -DGRACEDB_BUILD_EXAMPLES=OFF -DGRACEDB_BUILD_BENCH=OFF -DGRACEDB_BUILD_APPS=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}" >"$dir/build.log" 2>&1 || {
  tail -30 "$dir/build.log"; echo "fuzz.sh: the fuzz build failed (log: $dir/build.log)"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
mkdir -p "$dir/artifacts"
printf '%-20s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  mkdir -p "$dir/corpus/$t"
  log=$dir/$t.log
  rc=0
  "$dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$t-" "$dir/corpus/$t" "$root/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(ls "$dir/corpus/$t" | wc -l)
  if ((rc == 0)); then result=clean; else result="FINDING (exit $rc, log $log)"; failed=1; fi
  printf '%-20s %12s %10s %8s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "$corpus" "$result"
  if ((rc != 0)); then grep -E "ERROR|runtime error|Test unit written|abort" "$log" | head -5 | sed 's/^/    /' || true; fi
done
exit $failed
