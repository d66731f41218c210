#!/bin/sh
# The repository's layering, checked (ctest layout.private_includes; docs/layout.md):
#   - a library's private headers are included with its folder as prefix, and only from that library:
#       src/common/         includes only "common/..."
#       src/client/core/    "common/...", "client/core/..."
#       src/client/auth/    the above and "client/auth/..."
#       src/client/kafka/   the above and "client/kafka/..."
#       src/client/rest/    the above and "client/rest/..."   (REST sits on Kafka: create_event's producer)
#       src/client/event/   "common/...", "client/event/..."  (the event message: no Kafka, no REST)
#       src/supervisor/     "common/...", "client/event/...", "supervisor/..."
#       src/testing/        "common/...", "testing/..."
#   - apps/ and python/src/ include only public headers (<gracedb/...>), their own files and "common/...";
#   - a public header never includes a private one.
# Tests, benchmarks and fuzzers exercise private parts on purpose: they link the internal static target and
# are not checked. Usage: check-includes.sh [source-root]; exit 1 and one line per violation.
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2
status=0
allowed() {  # allowed <file> -> space-separated prefixes
  case $1 in
    src/common/*) echo "common/" ;;
    src/client/core/*) echo "common/ client/core/" ;;
    src/client/auth/*) echo "common/ client/core/ client/auth/" ;;
    src/client/event/*) echo "common/ client/event/" ;;
    src/client/kafka/*) echo "common/ client/core/ client/auth/ client/event/ client/kafka/" ;;
    src/client/rest/*) echo "common/ client/core/ client/auth/ client/event/ client/kafka/ client/rest/" ;;
    src/supervisor/*) echo "common/ client/event/ supervisor/" ;;
    src/testing/*) echo "common/ testing/" ;;
    apps/*|python/src/*) echo "common/ LOCAL" ;;
    include/*) echo "NONE" ;;
    *) echo "UNKNOWN" ;;
  esac
}
files=$(find src apps python/src include -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) | sort)
for f in $files; do
  rules=$(allowed "$f")
  if [ "$rules" = UNKNOWN ]; then
    echo "$f: a source file outside the known folders (add it to tests/layout/check-includes.sh and docs/layout.md)"
    status=1; continue
  fi
  # "..." includes, and <...> ones naming a private folder (an include path would let <client/...> through).
  grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*("|<(common|client|supervisor|testing)/)' "$f" |
  while IFS= read -r line; do
    inc=$(printf '%s\n' "$line" | sed -E 's/.*#[[:space:]]*include[[:space:]]*["<]([^">]*)[">].*/\1/')
    ok=no
    for p in $rules; do
      case $p in
        NONE) ;;
        LOCAL) case $inc in */*) ;; *) ok=yes ;; esac ;;
        *) case $inc in "$p"*) ok=yes ;; esac ;;
      esac
    done
    if [ $ok = no ]; then
      echo "$f:${line%%:*}: includes \"$inc\", a private header this folder may not use (allowed prefixes: $rules)"
    fi
  done
done > /tmp/check-includes.$$
if [ -s /tmp/check-includes.$$ ]; then cat /tmp/check-includes.$$; status=1; fi
rm -f /tmp/check-includes.$$
[ $status = 0 ] && echo "layout: every private include stays inside its library ($(echo "$files" | wc -l) files)"
exit $status
