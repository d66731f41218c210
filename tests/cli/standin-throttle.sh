#!/usr/bin/env bash
# standin-throttle.sh TOOL: "gracedb-kafka standin --throttle-rate 1" throttles event creations as the real
# server does: within one second the second creation gets 429 with a Retry-After header (seen with curl, an
# independent client), and after waiting that long a creation succeeds again.
set -u
tool=$1
fail() { echo "FAIL: $*"; exit 1; }
dir=$(mktemp -d)
"$tool" standin --throttle-rate 1 > "$dir/out" 2> "$dir/err" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 1 300); do [ -s "$dir/out" ] && break; sleep 0.1; done
url=$(head -1 "$dir/out")
case $url in http://*/api/) ;; *) cat "$dir/out" "$dir/err"; fail "first line is not the service URL" ;; esac
echo '<LIGO_LW/>' > "$dir/coinc.xml"
create() {  # prints the status; headers in $dir/headers
  curl -s -o "$dir/body" -D "$dir/headers" -w '%{http_code}' -F group=Test -F pipeline=gstlal \
    -F "eventFile=@$dir/coinc.xml" "${url}events/"
}
first=$(create); second=$(create)
echo "first: $first, second: $second"
[ "$first" = 201 ] || { cat "$dir/body"; fail "first creation: $first"; }
[ "$second" = 429 ] || { cat "$dir/body"; fail "second creation within a second: $second, not 429"; }
retry=$(tr -d '\r' < "$dir/headers" | sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p')
[ -n "$retry" ] || { cat "$dir/headers"; fail "429 without Retry-After"; }
sleep "$retry"
third=$(create)
[ "$third" = 201 ] || { cat "$dir/body"; fail "after Retry-After ($retry s): $third"; }
echo "standin throttle: ok (Retry-After: $retry)"
