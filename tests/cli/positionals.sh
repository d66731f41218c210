#!/usr/bin/env bash
# positionals.sh TOOL: a repeatable option takes one value, so the positional after it is kept, and
# --protocol is case-insensitive (here through $GRACEDB_KAFKA_PROTOCOL=PLAINTEXT). On the sandbox:
#   produce -t x -H origin=cli '{"graceid":"G1"}'          (used to fail: "--header wants name=value")
#   create-event --label EM_READY CBC gstlal coinc.xml     (used to fail: "group is required")
set -u
tool=$1
. "$(dirname "$0")/sandbox-lib.sh"
start_sandbox "$tool"
export GRACEDB_KAFKA_PROTOCOL=PLAINTEXT
dir=$(mktemp -d)
"$tool" produce -t positional -H origin=cli '{"graceid":"G1"}' || fail "produce with -H before the value"
timeout 60 "$tool" listen -t positional --from-beginning --count 1 > "$dir/line" || fail "listen"
grep -q '"headers":\[\["origin","cli"\]\],"value":{"graceid":"G1"},"value_encoding":"json"' "$dir/line" ||
  { cat "$dir/line"; fail "the message is not the one produced"; }
echo '<LIGO_LW/>' > "$dir/coinc.xml"
out=$("$tool" create-event --label EM_READY CBC gstlal "$dir/coinc.xml" --no-auth 2>&1) || { echo "$out"; fail "create-event with --label first"; }
echo "$out"
echo "$out" | grep -q '^graceid: G[0-9]* (HTTP 202, published to localhost.gstlal)' || fail "no graceid"
echo "positionals: ok"
