#!/usr/bin/env bash
# sandbox-sigint.sh TOOL: starts "TOOL sandbox", waits for its export line, uses it (create-event over HTTP
# and Kafka against the sandbox), then sends SIGINT: the sandbox must exit 0 within 10 s.
set -u
tool=$1
out=$(mktemp)
"$tool" sandbox > "$out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q '^export ' "$out" && break; sleep 0.1; done
grep -q '^export ' "$out" || { echo "no export line:"; cat "$out"; kill -9 $pid; exit 1; }
eval "$(grep '^export ' "$out")"
event=$(mktemp --suffix=.xml); echo '<LIGO_LW/>' > "$event"
id=$("$tool" create-event CBC gstlal "$event" --no-auth | sed -n 's/^graceid: \(G[0-9]*\).*/\1/p')
[ -n "$id" ] || { echo "create-event over Kafka failed"; kill -9 $pid; exit 1; }
# The sandbox's supervisor completes the upload: wait until GraceDB has the event.
for _ in $(seq 1 200); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -A test "${GRACEDB_SERVICE_URL}events/$id")" = 200 ] && break
  sleep 0.1
done
"$tool" create-event CBC gstlal "$event" --no-auth --transport http | grep -q '^graceid: G' || { echo "create-event over HTTP failed"; kill -9 $pid; exit 1; }
kill -INT $pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then echo "the sandbox ignored SIGINT for 10 s"; kill -9 $pid; exit 1; fi
wait $pid; rc=$?
cat "$out"
[ $rc -eq 0 ] || { echo "exit status $rc"; exit 1; }
grep -q "sandbox stopped: 2 event(s) in GraceDB" "$out" || { echo "expected 2 events in the stand-in"; exit 1; }
echo "sandbox-sigint: ok"
