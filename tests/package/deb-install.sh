#!/usr/bin/env bash
# The Debian packages as an administrator meets them (issue 24): builds them with `cpack -G DEB` in a build
# folder configured for /usr, installs them with `apt-get install ./*.deb`, builds the package consumers of
# tests/package against /usr (CMake and pkg-config), runs /usr/bin/gracedb-kafka demo, imports gracedb_cpp
# with /usr/bin/python3, then purges them and checks that nothing of ours is left under /usr.
# Needs root (CI runs as root); exits 77 (skipped) otherwise. Runs alone (RUN_SERIAL): while the packages are
# installed, /usr holds our headers and libraries.
# Usage: deb-install.sh <source dir> <build dir to make> <build type> <warnings as errors ON|OFF> [launcher]
set -euo pipefail
src=$1 build=$2 type=$3 werror=$4 launcher=${5:-}
jobs=${GRACEDB_PACKAGE_BUILD_JOBS:-$(nproc)}
work=$build/deb-check
fail() { echo "deb-install: FAILED: $*" >&2; exit 1; }
step() { echo "deb-install: $* ($(( $(date +%s) - t0 )) s)"; }
t0=$(date +%s)

if [ "$(id -u)" -ne 0 ]; then
  echo "deb-install: skipped: installing packages needs root (CI runs as root)"; exit 77
fi
for p in libgracedb0 libgracedb-dev gracedb-kafka python3-gracedb-cpp; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
    fail "$p is already installed here: remove it first (apt-get purge $p); this test installs its own"
  fi
done
for f in /usr/include/gracedb /usr/bin/gracedb-kafka /usr/lib/python3/dist-packages/gracedb_cpp; do
  [ ! -e "$f" ] || fail "$f exists (installed outside a package?): remove it first"
done

# --- build the packages ----------------------------------------------------------------------------------
mkdir -p "$build"
cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE="$type" \
  -DGRACEDB_WARNINGS_AS_ERRORS="$werror" ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher} \
  ${launcher:+-DCMAKE_C_COMPILER_LAUNCHER=$launcher} \
  -DGRACEDB_BUILD_TESTS=OFF -DGRACEDB_BUILD_EXAMPLES=OFF -DGRACEDB_BUILD_BENCH=OFF \
  > "$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; fail "configure"; }
cmake --build "$build" -j "$jobs" > "$build/build.log" 2>&1 || { tail -50 "$build/build.log"; fail "build"; }
step "built"
rm -rf "$build"/*.deb "$work" && mkdir -p "$work"
(cd "$build" && cpack -G DEB > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack -G DEB"; }
grep -i "warning" "$work/cpack.log" && fail "cpack warned (above)"
step "packaged"

declare -A deb
names=(libgracedb0 libgracedb-supervisor0 libgracedb-testing0 libgracedb-dev gracedb-kafka
       python3-gracedb-cpp)
for p in "${names[@]}"; do
  deb[$p]=$(ls "$build"/${p}_*.deb 2>/dev/null) || fail "no package $p among: $(ls "$build"/*.deb)"
done
[ "$(ls "$build"/*.deb | wc -l)" -eq 6 ] || fail "expected 6 packages, made: $(ls "$build"/*.deb)"
contents() { dpkg-deb -c "${deb[$1]}" | awk '{print $6}'; }
has() { contents "$1" | grep -qE "$2" || fail "$1 lacks $2"; }
hasnt() { ! contents "$1" | grep -E "$2" || fail "$1 must not hold $2 (above)"; }
# The runtime packages: the library by its soname, no development link; the -dev package: the rest.
has libgracedb0 '^\./usr/lib/[^/]+/libgracedb\.so\.0$'
hasnt libgracedb0 '\.so$|/include/|\.pc$|\.cmake$'
has libgracedb-supervisor0 'libgracedb_supervisor\.so\.0$'
has libgracedb-testing0 'libgracedb_testing\.so\.0$'
has libgracedb-dev '/usr/include/gracedb/kafka\.hpp$'
has libgracedb-dev '/usr/include/gracedb/version\.hpp$'
has libgracedb-dev '/usr/lib/[^/]+/libgracedb\.so$'
has libgracedb-dev '/cmake/gracedb/gracedbConfig\.cmake$'
has libgracedb-dev '/pkgconfig/gracedb-testing\.pc$'
has gracedb-kafka '^\./usr/bin/gracedb-kafka$'
has gracedb-kafka '/usr/share/man/man1/gracedb-kafka\.1'
has gracedb-kafka '/systemd/system/gracedb-supervisor\.service$'
has python3-gracedb-cpp '/usr/lib/python3/dist-packages/gracedb_cpp/_core\..*so$'
# Every file of ours is in exactly one package.
all=$(for p in "${!deb[@]}"; do contents "$p" | grep -v '/$'; done | sort)
dups=$(echo "$all" | uniq -d)
[ -z "$dups" ] || fail "files in two packages: $dups"
# Depends: Debian's libraries from dpkg-shlibdeps, ours with the exact version.
depends() { dpkg-deb -f "${deb[$1]}" Depends; }
needs() { depends "$1" | grep -qF "$2" || fail "$1 does not depend on $2: $(depends "$1")"; }
needs libgracedb0 librdkafka1
needs libgracedb0 libcurl4
needs libgracedb-testing0 libjwt0
version=$(dpkg-deb -f "${deb[libgracedb0]}" Version)
needs gracedb-kafka "libgracedb-testing0 (= $version)"
needs python3-gracedb-cpp "python3 (<<"
dpkg-deb -I "${deb[libgracedb0]}" shlibs | grep -q "^libgracedb 0 libgracedb0" \
  || fail "libgracedb0 has no shlibs"
for p in "${!deb[@]}"; do echo "  $p: $(depends "$p")"; done

# --- install, use, remove --------------------------------------------------------------------------------
# Nothing of the administrator's may be overwritten (dpkg replaces files no package owns) and then removed by
# the purge: every file these packages hold must be absent, and none of the packages installed, before.
for p in "${!deb[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
    fail "$p is already installed here: remove it first (apt-get purge $p); this test installs its own"
  fi
  while read -r f; do
    [ ! -e "${f#.}" ] && [ ! -L "${f#.}" ] \
      || fail "${f#.} exists already (of package $p): this test will not overwrite it"
  done < <(contents "$p" | grep -v '/$')
done
before=$(find /usr -name '*gracedb*' 2>/dev/null | sort)
packages=("${!deb[@]}")
apt() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q "$@"; }
purge() { apt purge "${packages[@]}" > "$work/purge.log" 2>&1; }
trap 'purge || true' EXIT
apt install "${deb[@]}" > "$work/install.log" 2>&1 \
  || { cat "$work/install.log"; fail "apt-get install ./*.deb"; }
step "installed"

# The package consumers, against /usr only (no prefix given).
export -n CMAKE_PREFIX_PATH PKG_CONFIG_PATH LD_LIBRARY_PATH 2>/dev/null || true
unset CMAKE_PREFIX_PATH PKG_CONFIG_PATH LD_LIBRARY_PATH
for mode in OFF ON; do
  cmake -S "$src/tests/package" -B "$work/consumer-$mode" -DWITH_COMPONENTS=$mode \
    > "$work/consumer-$mode.log" 2>&1 \
    && cmake --build "$work/consumer-$mode" >> "$work/consumer-$mode.log" 2>&1 \
    || { cat "$work/consumer-$mode.log"; fail "the consumer project ($mode) against /usr"; }
  grep -q '^gracedb_DIR:PATH=/usr/lib/.*/cmake/gracedb$' "$work/consumer-$mode/CMakeCache.txt" \
    || fail "find_package(gracedb) not from /usr: $(grep gracedb_DIR "$work/consumer-$mode"/CMakeCache.txt)"
  "$work/consumer-$mode/consumer"
done
"$work/consumer-ON/consumer_supervisor"
"$work/consumer-ON/consumer_testing"
for pc in gracedb gracedb-supervisor gracedb-testing; do
  dir=$(pkg-config --variable=includedir $pc) || fail "pkg-config $pc"
  [ "$(realpath "$dir")" = /usr/include ] || fail "pkg-config $pc: includedir $dir, not /usr/include"
done
# shellcheck disable=SC2046
g++ -std=c++20 "$src/tests/package/consumer_testing.cpp" -o "$work/consumer-testing-pc" \
  $(pkg-config --cflags --libs gracedb-testing) || fail "pkg-config gracedb-testing"
"$work/consumer-testing-pc"
step "package consumers built against /usr and ran"

# The tool, its manual and unit.
[ "$(command -v gracedb-kafka)" = /usr/bin/gracedb-kafka ] || fail "gracedb-kafka is not in /usr/bin"
(cd "$work" && /usr/bin/gracedb-kafka demo > "$work/demo.log" 2>&1) || { cat "$work/demo.log"; fail "demo"; }
grep -E "graceid: G[0-9]+" "$work/demo.log" || { cat "$work/demo.log"; fail "the demo made no event"; }
page=$(man -w gracedb-kafka) || fail "man gracedb-kafka finds no page"
[ "$page" = /usr/share/man/man1/gracedb-kafka.1 ] || fail "man gracedb-kafka: $page"
grep -q '^ExecStart=/usr/bin/gracedb-kafka supervise' /usr/lib/systemd/system/gracedb-supervisor.service \
  || fail "the unit does not run /usr/bin/gracedb-kafka"
step "gracedb-kafka demo from /usr/bin"

# Python: Debian's python3, from a folder that is not the source tree, nothing on PYTHONPATH.
(cd "$work" && env -i PATH=/usr/bin:/bin HOME="$work" \
   /usr/bin/python3 "$src/tests/python/installed_check.py" /usr) \
  || fail "gracedb_cpp from /usr"
step "gracedb_cpp imported by /usr/bin/python3"

# --- remove: nothing of ours is left ----------------------------------------------------------------------
purge || { cat "$work/purge.log"; fail "apt-get purge"; }
trap - EXIT
after=$(find /usr -name '*gracedb*' 2>/dev/null | sort)
[ "$before" = "$after" ] || fail "left under /usr: $(comm -13 <(echo "$before") <(echo "$after"))"
for f in $all; do
  [ ! -e "${f#.}" ] || fail "${f#.} is left after the purge"
done
step "removed cleanly"
echo "deb-install: passed"
