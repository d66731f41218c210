#!/usr/bin/env bash
# standin.sh TOOL RIG_TOOL: "gracedb-kafka standin" as a user runs it. HTTPS with a certificate for localhost,
# token checks on (a JWKS file), an issuer, a service principal, a store file and an upload latency of 0.3 s:
#   - the first line of standard output is the service URL, and Python's urllib reaches it;
#   - create-event over HTTP with a token signed by the JWKS's key creates an event (in at least 0.3 s);
#     without credentials it is refused;
#   - SIGTERM stops it (exit 0) and the event is in the store file.
set -u
tool=$1 rig_tool=$2
fail() { echo "FAIL: $*"; exit 1; }
dir=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" -keyout "$dir/tls.key" -out "$dir/tls.pem" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null || fail "openssl req"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/issuer.key" 2>/dev/null || fail "openssl genpkey"
"$rig_tool" jwks --key "$dir/issuer.key" --kid k1 > "$dir/jwks.json" || fail "rig-tool jwks"
"$tool" standin --jwks "$dir/jwks.json" --issuer https://issuer.test --service-principal supervisor \
  --store "$dir/store.json" --upload-latency 0.3 --tls-cert "$dir/tls.pem" --tls-key "$dir/tls.key" \
  > "$dir/out" 2> "$dir/err" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 1 300); do [ -s "$dir/out" ] && break; sleep 0.1; done
url=$(head -1 "$dir/out")
echo "service URL: $url"
case $url in https://localhost:*/api/) ;; *) cat "$dir/out" "$dir/err"; fail "first line is not the service URL" ;; esac
"$rig_tool" mint --key "$dir/issuer.key" --kid k1 --iss https://issuer.test --sub pipeline \
  --aud https://localhost --scope gracedb.read --lifetime 600 --out "$dir/token" || fail "rig-tool mint"
/usr/bin/python3 - "$url" "$dir/tls.pem" "$dir/token" <<'PY' || fail "Python's urllib cannot use the stand-in"
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
token = open(sys.argv[3]).read().strip()
req = urllib.request.Request(sys.argv[1], headers={"User-Agent": "urllib-test", "Authorization": "Bearer " + token})
with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
    assert r.status == 200, r.status
    root = json.load(r)
assert "events" in root["links"], root
print("urllib: API root with links", sorted(root["links"]))
PY
echo '<LIGO_LW/>' > "$dir/coinc.xml"
"$tool" create-event Test gstlal "$dir/coinc.xml" --transport http --no-auth --service-url "$url" \
  --gracedb-ca-cert "$dir/tls.pem" > "$dir/anon" 2>&1 && { cat "$dir/anon"; fail "created an event without credentials"; }
BEARER_TOKEN_FILE=$dir/token "$tool" create-event Test gstlal "$dir/coinc.xml" --transport http \
  --service-url "$url" --gracedb-ca-cert "$dir/tls.pem" > "$dir/create" 2>&1 || { cat "$dir/create"; fail "create-event"; }
cat "$dir/create"
id=$(sed -n 's/^graceid: \(T[0-9]*\) (HTTP 201).*/\1/p' "$dir/create")
[ -n "$id" ] || fail "no graceid"
ms=$(sed -n 's/^  http: \([0-9]*\).*/\1/p' "$dir/create")
[ -n "$ms" ] && [ "$ms" -ge 300 ] || fail "the creation took ${ms:-?} ms, less than --upload-latency 0.3"
kill -TERM $pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && fail "the stand-in ignored SIGTERM for 10 s"
wait $pid; rc=$?
cat "$dir/out" "$dir/err"
[ $rc -eq 0 ] || fail "exit status $rc"
grep -q "^standin stopped: 1 event(s)" "$dir/out" || fail "no stop line with 1 event"
grep -q "\"$id\"" "$dir/store.json" || fail "$id is not in the store file"
echo "standin: ok"
