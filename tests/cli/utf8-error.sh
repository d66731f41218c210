#!/usr/bin/env bash
# utf8-error.sh TOOL: an error message that quotes a server's answer never cuts a character in half. A small
# HTTP server answers every request with HTTP 400 and a body of "a" followed by 400 "é" (2 bytes each), so
# that any cut at an even byte count falls inside a character; create-event must fail (exit 1) with a last
# line that is valid UTF-8 and says HTTP 400.
set -u
tool=$1
dir=$(mktemp -d)
/usr/bin/python3 - "$dir/port" <<'PY' &
import http.server, sys
body = ("a" + "é" * 400).encode()
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.send_response(400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
echo '<LIGO_LW/>' > "$dir/coinc.xml"
"$tool" create-event Test gstlal "$dir/coinc.xml" --transport http --no-auth \
  --service-url "http://127.0.0.1:$(cat "$dir/port")/api/" > "$dir/out" 2> "$dir/err"; rc=$?
cat "$dir/out" "$dir/err"
[ $rc -eq 1 ] || { echo "FAIL: exit status $rc, wanted 1"; exit 1; }
tail -1 "$dir/err" | grep -q 'HTTP 400' || { echo "FAIL: the last line does not say HTTP 400"; exit 1; }
/usr/bin/python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$dir/err" ||
  { echo "FAIL: standard error is not valid UTF-8 (a character was cut)"; exit 1; }
echo "utf8-error: ok"
