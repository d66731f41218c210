#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh machine: installs the dependencies, builds, starts the
# real Kafka broker (a CTest fixture), runs unit, integration and package tests, and stops the broker; then
# the hardening checks (scripts/check-hardening.sh: ASan+UBSan and TSan test runs, short fuzz runs).
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L unit]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GRACEDB_BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh"
# ccache (install-deps.sh): the package tests build the project again next to this build folder (<build>-deb,
# <build>-wheel) with the same flags; with paths made relative to the clone they are served from the cache.
launcher=()
if command -v ccache > /dev/null; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DGRACEDB_WARNINGS_AS_ERRORS="${GRACEDB_WARNINGS_AS_ERRORS:-OFF}"
cmake --build "$build" -j "$(nproc)"

# The broker is stopped by the rig_stop fixture (the chaos cluster by cluster_stop); this also stops it if ctest itself is interrupted.
trap '"$root/tests/rig/kafka-rig.sh" stop "$build/rig/broker" >/dev/null 2>&1 || true
      "$root/tests/rig/kafka-rig.sh" cluster-stop "$build/rig/cluster" >/dev/null 2>&1 || true' EXIT
start=$(date +%s)
cd "$build"
ctest --output-on-failure -j 2 "$@"
echo "test.sh: the suite took $(( $(date +%s) - start )) s"

# Sanitizer builds of the tests and short fuzz runs (issue 12): on the whole suite only, not on a part of it.
if (($#)); then
  echo "test.sh: NOTE: hardening checks not run for a partial suite; run scripts/check-hardening.sh \"$build\""
else
  "$root/scripts/check-hardening.sh" "$build"
fi
