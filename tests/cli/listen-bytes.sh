#!/usr/bin/env bash
# listen-bytes.sh TOOL: listen keeps every byte and every header. On the sandbox: a gzipped value with a key and
# a header that are not UTF-8, then a JSON value with repeated headers (written as Python's json.dumps does),
# then text. listen --count 3 must print all three (it used to die at the first non-UTF-8 byte), each line JSON:
# the binary value in base64 (value_encoding "base64") decoding to the exact bytes, the JSON value as JSON, the
# text as text, and the headers as [name, value] pairs in order, repeats kept.
set -u
tool=$1
. "$(dirname "$0")/sandbox-lib.sh"
start_sandbox "$tool"
dir=$(mktemp -d)
printf 'event file\n' | gzip -c > "$dir/event.gz"
"$tool" produce -t bytes -f "$dir/event.gz" -k $'\xff\x01G1' -H $'bin=\xc3' -H 'origin=cli' || fail "produce (binary)"
"$tool" produce -t bytes -H dup=a -H dup=b '{"graceid": "G2", "far": 1.50e-10, "z": 1, "a": 2}' || fail "produce (json)"
printf 'plain text\n' | "$tool" produce -t bytes -k G3 || fail "produce (text)"
timeout 60 "$tool" listen -t bytes --from-beginning --count 3 > "$dir/lines" 2> "$dir/err" || { cat "$dir/err"; fail "listen"; }
cat "$dir/lines"
/usr/bin/python3 - "$dir/lines" "$dir/event.gz" <<'PY' || fail "listen's output"
import base64, json, sys
lines = open(sys.argv[1], "rb").read().decode("utf-8").splitlines()
assert len(lines) == 3, f"{len(lines)} lines, wanted 3"
msgs = {}
for line in lines:
    m = json.loads(line)
    assert set(m) == {"topic", "partition", "offset", "timestamp", "key", "key_encoding", "headers", "value",
                      "value_encoding"}, m.keys()
    assert m["topic"] == "localhost.bytes", m["topic"]
    msgs[m["value_encoding"]] = m
b, j, t = msgs["base64"], msgs["json"], msgs["text"]
assert base64.b64decode(b["value"]) == open(sys.argv[2], "rb").read(), "binary value changed"
assert b["key_encoding"] == "base64" and base64.b64decode(b["key"]) == b"\xff\x01G1", b["key"]
assert b["headers"] == [["bin", {"base64": base64.b64encode(b"\xc3").decode()}], ["origin", "cli"]], b["headers"]
assert j["value"] == {"graceid": "G2", "far": 1.5e-10, "z": 1, "a": 2}, j["value"]
assert list(j["value"]) == ["graceid", "far", "z", "a"], "key order changed"
assert '"far":1.50e-10' in [l for l in lines if '"json"' in l][0], "the number's spelling changed"
assert j["headers"] == [["dup", "a"], ["dup", "b"]], j["headers"]
assert j["key"] is None and j["key_encoding"] is None
assert t["value"] == "plain text\n" and t["key"] == "G3" and t["key_encoding"] == "text", t
print("listen-bytes: ok")
PY
