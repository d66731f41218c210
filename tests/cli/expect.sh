#!/usr/bin/env bash
# expect.sh EXIT REGEX [--lines N] -- COMMAND...
# Runs COMMAND; passes when it exits with EXIT ("nonzero" for any failure) and its combined output matches the
# extended regular expression REGEX (and, with --lines N, has at most N lines on standard error besides the
# library's log lines, "gracedb-kafka <sub>: warning: ...", which the tool shows by default).
set -u
want=$1 regex=$2; shift 2
max_lines=
if [ "$1" = "--lines" ]; then max_lines=$2; shift 2; fi
[ "$1" = "--" ] && shift
out=$(mktemp) err=$(mktemp)
"$@" >"$out" 2>"$err" </dev/null
rc=$?
cat "$out" "$err"
if [ "$want" = nonzero ]; then [ "$rc" -ne 0 ] || { echo "expect.sh: exit status 0, wanted non-zero"; exit 1; }
else [ "$rc" -eq "$want" ] || { echo "expect.sh: exit status $rc, wanted $want"; exit 1; }; fi
cat "$out" "$err" | grep -Eq -- "$regex" || { echo "expect.sh: output does not match /$regex/"; exit 1; }
if [ -n "$max_lines" ]; then
  n=$(grep -Evc '^gracedb-kafka [a-z-]+: (debug|info|warning|error): ' "$err")
  [ "$n" -le "$max_lines" ] || { echo "expect.sh: $n lines on standard error, wanted at most $max_lines"; exit 1; }
fi
rm -f "$out" "$err"
echo "expect.sh: ok"
