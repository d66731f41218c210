#!/usr/bin/env bash
# with-sandbox.sh TOOL COMMAND [ARG...]: starts "TOOL sandbox", exports what its export line says
# (GRACEDB_KAFKA_BOOTSTRAP, GRACEDB_SERVICE_URL, GRACEDB_KAFKA_PROTOCOL), runs COMMAND, stops the sandbox with
# SIGINT and exits with COMMAND's status (non-zero also when the sandbox did not start or stop cleanly).
set -u
tool=$1; shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$tool" sandbox > "$out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q '^export ' "$out" && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^export ' "$out"; then echo "with-sandbox: the sandbox printed no export line:"; cat "$out"
  kill -9 $pid 2>/dev/null; exit 1; fi
eval "$(grep '^export ' "$out")"
"$@"; rc=$?
kill -INT $pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then
  echo "with-sandbox: the sandbox ignored SIGINT for 10 s"; kill -9 $pid; rc=1
fi
wait $pid 2>/dev/null
echo "--- the sandbox's output:"; cat "$out"
exit $rc
