#!/bin/sh
# Proves check-includes.sh can fail (ctest layout.private_includes.detects_a_violation): a tree with one private
# include out of its library by "..." and one by <...> must be refused, each violation named.
check=$(cd "$(dirname "$0")" && pwd)/check-includes.sh
d=$(mktemp -d) || exit 2
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/src/testing" "$d/apps" "$d/python/src" "$d/include"
printf '#include "client/kafka/client.hpp"\n' > "$d/src/testing/x.cpp"
printf '#include <gracedb/kafka.hpp>\n#include <supervisor/decode.hpp>\n' > "$d/apps/y.cpp"
if out=$("$check" "$d"); then
  echo "check-includes.sh accepted a tree with violations:"; echo "$out"; exit 1
fi
for want in 'src/testing/x.cpp:1: includes "client/kafka/client.hpp"' 'apps/y.cpp:2: includes "supervisor/decode.hpp"'; do
  printf '%s\n' "$out" | grep -qF "$want" || { echo "not reported: $want"; echo "$out"; exit 1; }
done
printf '%s\n' "$out" | grep -q 'gracedb/kafka.hpp' && { echo "a public header was reported"; exit 1; }
echo "check-includes.sh refuses both violations and names them"
