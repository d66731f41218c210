#!/usr/bin/env bash
# listen-pattern.sh TOOL: "listen -t '^.*'" stays within the instance. On the sandbox, a message on
# other.pattern (instance "other"), then one on localhost.pattern; listen --instance localhost
# -t '^.*' must show the second and never the first (it used to subscribe across instances).
set -u
tool=$1
. "$(dirname "$0")/sandbox-lib.sh"
start_sandbox "$tool"
dir=$(mktemp -d)
"$tool" produce -t pattern --instance other '"other instance"' || fail "produce to other"
"$tool" produce -t pattern '"this instance"' || fail "produce to this instance"
"$tool" listen -t '^.*' --from-beginning > "$dir/lines" 2> "$dir/err" &
pid=$!
wait_for "$dir/lines" '"this instance"' 60 || { kill -INT $pid; cat "$dir/lines" "$dir/err"; fail "no message of this instance in 60 s"; }
sleep 3  # a message of the other instance, if subscribed, is as old and as near: it would be here by now
kill -INT $pid; wait $pid
cat "$dir/lines"
grep -q '"topic":"other\.' "$dir/lines" && fail "listen showed another instance's topic"
grep -q '"topic":"localhost.pattern"' "$dir/lines" || fail "no message of localhost.pattern"
echo "listen-pattern: ok"
