#!/usr/bin/env bash
# Installs the built project into a scratch prefix, then checks the package as its users meet it:
#  - the client library's runtime dependencies and exported symbols (no stand-in or test code, no internals);
#  - a plain consumer project with find_package(gracedb) (client alone), and with COMPONENTS testing supervisor;
#  - pkg-config for each of the three libraries.
set -euo pipefail
build=$1 work=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work.install.log" 2>&1 || { cat "$work.install.log"; exit 1; }
test -x "$work/prefix/bin/gracedb-kafka" || { echo "gracedb-kafka was not installed"; exit 1; }
! grep -rlE '#include <(librdkafka|curl|openssl)/' "$work/prefix/include/gracedb" \
  || { echo "a public header includes a C library's header"; exit 1; }
libdir=$(dirname "$(find "$work/prefix" -name gracedb.pc | head -1)")/..
client=$(find "$work/prefix" -name 'libgracedb.so' | head -1)
if [ -n "$client" ]; then
  needed=$(readelf -d "$client" | grep NEEDED)
  if echo "$needed" | grep -qiE 'httplib|jwt|jansson|brotli'; then
    echo "libgracedb.so needs a library of the testing part:"; echo "$needed"; exit 1
  fi
  if nm -DC --defined-only "$client" | grep -E 'gracedb::.*detail|httplib'; then
    echo "libgracedb.so exports internal symbols (above)"; exit 1
  fi
  echo "libgracedb.so: $(nm -DC --defined-only "$client" | grep -c 'gracedb::') gracedb symbols exported, none internal"
fi

export LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}"
for mode in OFF ON; do
  cmake -S "$here" -B "$work/consumer-$mode" -DCMAKE_PREFIX_PATH="$work/prefix" -DWITH_COMPONENTS=$mode \
    > "$work/configure-$mode.log" 2>&1 || { cat "$work/configure-$mode.log"; exit 1; }
  cmake --build "$work/consumer-$mode" > "$work/build-$mode.log" 2>&1 || { cat "$work/build-$mode.log"; exit 1; }
  "$work/consumer-$mode/consumer"
done
"$work/consumer-ON/consumer_supervisor"
"$work/consumer-ON/consumer_testing"

export PKG_CONFIG_PATH="$libdir/pkgconfig:${PKG_CONFIG_PATH:-}"
# shellcheck disable=SC2046
g++ -std=c++20 "$here/consumer.cpp" -o "$work/consumer-pc" $(pkg-config --cflags --libs gracedb)
"$work/consumer-pc"
# shellcheck disable=SC2046
g++ -std=c++20 "$here/consumer_supervisor.cpp" -o "$work/consumer-supervisor-pc" $(pkg-config --cflags --libs gracedb-supervisor)
"$work/consumer-supervisor-pc"
# shellcheck disable=SC2046
g++ -std=c++20 "$here/consumer_testing.cpp" -o "$work/consumer-testing-pc" $(pkg-config --cflags --libs gracedb-testing)
"$work/consumer-testing-pc"
echo "package check passed"
