# Sourced by the CLI test scripts: start_sandbox TOOL starts "TOOL sandbox", waits for its export line and
# exports GRACEDB_KAFKA_BOOTSTRAP, GRACEDB_SERVICE_URL, GRACEDB_KAFKA_PROTOCOL; the sandbox stops (SIGINT) when
# the script exits. fail MESSAGE prints the message and exits 1.
fail() { echo "FAIL: $*"; exit 1; }
start_sandbox() {
  sandbox_out=$(mktemp)
  "$1" sandbox > "$sandbox_out" 2>&1 &
  sandbox_pid=$!
  trap 'kill -INT $sandbox_pid 2>/dev/null; wait $sandbox_pid 2>/dev/null' EXIT
  for _ in $(seq 1 600); do grep -q '^export ' "$sandbox_out" && break; sleep 0.1; done
  grep -q '^export ' "$sandbox_out" || { cat "$sandbox_out"; fail "the sandbox printed no export line in 60 s"; }
  eval "$(grep '^export ' "$sandbox_out")"
}
# wait_for FILE REGEX SECONDS: until FILE has a line matching REGEX.
wait_for() {
  local i
  for i in $(seq 1 $(($3 * 10))); do grep -Eq -- "$2" "$1" && return 0; sleep 0.1; done
  return 1
}
