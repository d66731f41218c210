#!/usr/bin/env bash
# check-heartbeat.sh TOOL: on the sandbox, `check` reports the supervisor's heartbeat ("supervisor alive: last
# heartbeat N s ago, p50 delay M ms") once it has uploaded an event, and, for an instance no supervisor
# serves, warns "no heartbeat" without failing. `listen --heartbeat` shows the heartbeats themselves.
set -u
tool=$1
. "$(dirname "$0")/sandbox-lib.sh"
start_sandbox "$tool"
event=$(mktemp --suffix=.xml); echo '<LIGO_LW/>' > "$event"
id=$("$tool" create-event CBC gstlal "$event" --no-auth | sed -n 's/^graceid: \(G[0-9]*\).*/\1/p')
[ -n "$id" ] || fail "create-event over Kafka failed"
for _ in $(seq 1 200); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -A test "${GRACEDB_SERVICE_URL}events/$id")" = 200 ] && break
  sleep 0.1
done

# The first heartbeat that counts the upload (one every 5 s): listen ends at the next line after grep's match.
timeout 30 "$tool" listen --heartbeat --from-beginning | grep -m1 -q '"uploaded":1' \
  || fail "no heartbeat counted the upload within 30 s"
out=$("$tool" check --no-auth --timeout 10 2>&1); rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "check exited $rc with the sandbox's supervisor running"
echo "$out" | grep -Eq '^ ?[0-9]+\. supervisor +ok .*supervisor alive: last heartbeat [0-9]+ s ago, p50 delay [0-9.]+ ms' \
  || fail "check did not report the supervisor's heartbeat with its p50 delay"

out=$("$tool" check --no-auth --timeout 4 --instance nobody 2>&1); rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "no heartbeat must be a warning, not a failure (exit $rc)"
echo "$out" | grep -Eq '^ ?[0-9]+\. supervisor +WARN .*no heartbeat.*gracedb-heartbeat\.nobody' \
  || fail "check did not warn \"no heartbeat\" for an instance without a supervisor"
echo "$out" | grep -q "with a warning" || fail "the summary does not mention the warning"

line=$(timeout 20 "$tool" listen --heartbeat --count 1 2>&1 | head -1)
echo "$line"
echo "$line" | grep -q '"topic":"gracedb-heartbeat.localhost"' || fail "listen --heartbeat did not read the heartbeat topic"
echo "$line" | grep -q '"type":"heartbeat"' || fail "listen --heartbeat did not show a heartbeat"
echo "check-heartbeat: ok"
