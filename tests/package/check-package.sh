#!/usr/bin/env bash
# Installs the built project into a scratch prefix, then builds tests/package/ against it twice:
# with find_package(gracedb CONFIG REQUIRED), and with pkg-config (gracedb.pc). Runs both programs.
set -euo pipefail
build=$1 work=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work.install.log" 2>&1 || { cat "$work.install.log"; exit 1; }
test -x "$work/prefix/bin/gracedb-kafka" || { echo "gracedb-kafka was not installed"; exit 1; }
! grep -rlE '#include <(librdkafka|curl|openssl)/' "$work/prefix/include/gracedb" \
  || { echo "a public header includes a C library's header"; exit 1; }

cmake -S "$here" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log" 2>&1 \
  || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/consumer" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/consumer/consumer"

libdir=$(dirname "$(find "$work/prefix" -name gracedb.pc | head -1)")
export PKG_CONFIG_PATH="$libdir:${PKG_CONFIG_PATH:-}"
# shellcheck disable=SC2046
g++ -std=c++20 "$here/consumer.cpp" -o "$work/consumer-pc" $(pkg-config --cflags --libs gracedb)
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/consumer-pc"
echo "package check passed"
