#!/usr/bin/env bash
# dead-broker.sh TOOL MODE: failures against a Kafka broker that is down (127.0.0.1:9: connection refused).
#   ping     ping --timeout 6 fails within 10.5 s with the cause on its last line (it used to take 12 s:
#            the producer's destructor waited the timeout a second time)
#   listen   listen says so on standard error within 30 s (it used to print nothing: warnings were off), and
#            still ends cleanly (exit 0) on SIGINT
#   fallback create-event --fallback on the sandbox's GraceDB with the dead broker completes the event over
#            HTTP and exits within 16 s of the 10 s default timeout (it used to exit after 20 s)
#   finish   create-event without --fallback fails naming the reserved graceid, and its last line gives the
#            exact command that finishes that same event; run as printed it completes it over HTTP (201),
#            and run again it says the event is already done (the reserved upload is idempotent)
set -u
tool=$1 mode=$2
. "$(dirname "$0")/sandbox-lib.sh"
dir=$(mktemp -d)
now() { echo $(($(date +%s%N) / 1000000)); }  # milliseconds
case $mode in
ping)
  t0=$(now)
  "$tool" ping -b 127.0.0.1:9 --instance x --protocol plaintext --timeout 6 > "$dir/out" 2> "$dir/err"; rc=$?
  t=$(($(now) - t0)); cat "$dir/out" "$dir/err"; echo "took $t ms"
  [ $rc -ne 0 ] || fail "exit status 0"
  tail -1 "$dir/err" | grep -q '^gracedb-kafka ping: .*Connection refused' || fail "the last line does not say why"
  [ $t -lt 10500 ] || fail "took $t ms for a 6 s timeout"
  ;;
listen)
  "$tool" listen -b 127.0.0.1:9 --instance x --protocol plaintext > "$dir/out" 2> "$dir/err" &
  pid=$!
  wait_for "$dir/err" 'warning: .*(Connection refused|brokers are down)' 30 || { kill -9 $pid; cat "$dir/err"; fail "nothing said in 30 s"; }
  kill -INT $pid
  for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill -0 $pid 2>/dev/null && { kill -9 $pid; fail "listen ignored SIGINT for 10 s"; }
  wait $pid; rc=$?
  cat "$dir/err"
  [ $rc -eq 0 ] || fail "exit status $rc after SIGINT"
  ;;
fallback)
  start_sandbox "$tool"
  echo '<LIGO_LW/>' > "$dir/coinc.xml"
  t0=$(now)
  "$tool" create-event CBC gstlal "$dir/coinc.xml" --no-auth --fallback -b 127.0.0.1:9 > "$dir/out" 2> "$dir/err"; rc=$?
  t=$(($(now) - t0)); cat "$dir/out" "$dir/err"; echo "took $t ms"
  [ $rc -eq 0 ] || fail "exit status $rc"
  grep -q '^graceid: G[0-9]* (HTTP 201' "$dir/out" || fail "no graceid completed over HTTP"
  [ $t -lt 16000 ] || fail "took $t ms with the 10 s default timeout"
  ;;
finish)
  start_sandbox "$tool"
  echo '<LIGO_LW/>' > "$dir/coinc.xml"
  "$tool" create-event CBC gstlal "$dir/coinc.xml" --no-auth --search AllSky -b 127.0.0.1:9 --timeout 3 \
    > "$dir/out" 2> "$dir/err"; rc=$?
  cat "$dir/out" "$dir/err"
  [ $rc -eq 1 ] || fail "exit status $rc"
  last=$(tail -1 "$dir/err")
  id=$(printf '%s\n' "$last" | sed -n 's/.*(reserved \(G[0-9]*\)).*/\1/p')
  [ -n "$id" ] || fail "the last line names no reserved graceid"
  printf '%s\n' "$last" | grep -q "may still be delivered" ||
    fail "the last line does not say the message may still be delivered"
  cmd=$(printf '%s\n' "$last" | sed -n 's/.*; to finish it: gracedb-kafka \(create-event --finish .*\)$/\1/p')
  [ -n "$cmd" ] || fail "the last line gives no command to finish $id"
  case "$cmd" in *"--finish $id "*) ;; *) fail "the command does not finish $id: $cmd" ;; esac
  eval "\"\$tool\" $cmd" > "$dir/fin" 2>&1 || { cat "$dir/fin"; fail "the printed command failed"; }
  cat "$dir/fin"
  grep -q "^graceid: $id (HTTP 201, completed)" "$dir/fin" || fail "$id not completed"
  eval "\"\$tool\" $cmd" > "$dir/fin2" 2>&1 || { cat "$dir/fin2"; fail "the printed command failed again"; }
  grep -q "^graceid: $id (already uploaded: done)" "$dir/fin2" ||
    { cat "$dir/fin2"; fail "a second finish is not done"; }
  ;;
*) fail "unknown mode $mode" ;;
esac
echo "dead-broker $mode: ok"
