#!/usr/bin/python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (committed; rerun after changing this file).

Seeds are small (a few hundred bytes): the specification's examples (service URLs, topics), short snippets of
the shared data files (../shared/data: cut here, never copied whole), and shapes that reached bugs (issue 12).
Usage: /usr/bin/python3 fuzz/make_seeds.py [path/to/shared/data]
"""
import base64
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent
data = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent.parent / "shared" / "data"


def snippet(rel, start, length):
    p = data / rel
    if not p.exists():
        print(f"make_seeds: {p} not found: seeds from it are left out", file=sys.stderr)
        return b""
    return p.read_bytes()[start:start + length]


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims, header=None):
    header = header or {"alg": "RS256", "typ": "JWT", "kid": "key-rs256"}
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{p}.{b64url(b'not-a-signature-' * 2)}"


base_claims = {"iss": "https://scitokens.org/ligo", "sub": "pipeline", "aud": "kafka.example.org",
               "scope": "kafka.produce gracedb.read", "ver": "scitoken:2.0", "iat": 1764172800,
               "nbf": 1764172800, "exp": 4102444800}
tokens = [
    jwt(base_claims),
    jwt({**base_claims, "aud": ["https://gracedb-dev.ligo.org", "ANY"]}),
    jwt({**base_claims, "exp": 9999999999}),              # a common "never" (issue 12: read as 1677)
    jwt({**base_claims, "exp": 1.5e300, "nbf": -1e300}),
    jwt({**base_claims, "exp": "soon"}),
    jwt({k: v for k, v in base_claims.items() if k != "exp"}),
    jwt({**base_claims, "aud": "https://wlcg.cern.ch/jwt/v1/any", "scope": "kafka.produce:/gracedb"}),
    "a.b", "a.b.c.d", "..", "e30.e30.", "e30.W10.x", "not a token",
]
corpora = {
    "fuzz_token_claims": tokens,
    "fuzz_token_file": ["  " + tokens[0] + "\n", tokens[2] + "\r\n", "\n\n", tokens[4], "x" * 40 + "." + "y"],
    "fuzz_topics": ["gracedb-dev.gstlal", "gracedb-test.test", "gracedb.cwb", "gracedb-dev.gstlal.extra",
                    "gracedb-dev\0gstlal", "gracedb-test\0test", "x\0.", ".", "..", "a" * 250,
                    "gracedb-sandbox.mbta", "gracedb dev\0gst/lal"],
    "fuzz_service_url": ["https://gracedb-dev.ligo.org/api/", "https://gracedb-test.ligo.org/api/",
                         "https://gracedb.ligo.org/api/", "http://gracedb-sandbox.localhost:8080/api/",
                         "https://user:secret@gracedb-dev.ligo.org/api/", "https:///api/", "gracedb.ligo.org/api/",
                         "https://[::1]:8443/api/", "https://GraceDB-Dev.LIGO.org", "SASL_SSL://kafka:9092,b:9093",
                         "https://.ligo.org/", "https://xn--grcdb-bsa.example/"],
}

response = snippet("gracedb/event-creation-response.json", 0, 360)
event = snippet("events/cbc-mbta.xml", 0, 200)
cwb = snippet("events/burst-cwb.txt", 0, 160)
message = {"graceid": "G123456", "group": "CBC", "pipeline": "gstlal", "search": "AllSky", "offline": False,
           "labels": [], "eventFile": ["coinc.xml", base64.b64encode(event).decode()],
           "_producer_timestamp": 1764172800.123}
json_seeds = [
    b"\x01" + json.dumps(message).encode(),
    b"\x01" + json.dumps({"unicode": "\u00e9 \u4e2d\u6587 \U0001F680", "ctl": "\x01\x1f\x7f\"\\"}).encode(),
    b"\x01[1e300,-2.5e-8,5e-324,1.7976931348623157e308,0.1,-0,18446744073709551615,-9223372036854775808]",
    b"\x00" + b"a" * 24 + b"\xc3\xa9\xf0",                 # issue 12: incomplete character at the end
    b"\x00\x06\x1b" + "héllo \ud800".encode("utf-8", "surrogatepass"),
    b"\x00\x08\x02\x10key\x06\x05value",
]
if response:
    json_seeds.append(b"\x01" + response.rsplit(b",", 1)[0] + b"}}")  # cut at a comma, closed again
corpora["fuzz_json_writer"] = json_seeds
corpora["fuzz_base64"] = [event, cwb, b"", b"\x00", b"\xff\xfe", b"PD94bWw=", b"PD94bWw", b"a-_b", b"====",
                          base64.b64encode(cwb[:90])]
event_message = {**message, "type": "event", "gracedb_upload": True, "skip_supervisor": False}
corpora["fuzz_supervisor_decode"] = [
    json.dumps(event_message).encode(),
    json.dumps({**event_message, "eventFile": ["coinc.xml", base64.encodebytes(event).decode()]}).encode(),
    json.dumps({**event_message, "labels": ["EM_READY", "PASTRO_READY"], "search": None}).encode(),
    json.dumps({**event_message, "skip_supervisor": True}).encode(),
    json.dumps({**event_message, "graceid": "G12\u0000", "offline": "no"}).encode(),
    json.dumps({"type": "ping", "sub": "pipeline", "_producer_timestamp": 1e300}).encode(),
    json.dumps({**event_message, "eventFile": ["", "@@@"]}).encode(),
    b'{"type":"event","graceid":"G1","group":"CBC","pipeline":"gstlal","eventFile":["a",' + b'"' + b"A" * 300 + b'"]}',
    b"\x01" + base64.b64encode(cwb[:90]),
    b"\x01PD94bWw=\n",
    b"[1,2]", b"null", b"{", b"",
]
def form(**fields):
    """A multipart/form-data body with boundary FUZZ (what fuzz_standin_request's POST shapes send)."""
    out = b""
    for name, value in fields.items():
        if name == "eventFile":
            out += (b'--FUZZ\r\nContent-Disposition: form-data; name="eventFile"; filename="coinc.xml"\r\n'
                    b"Content-Type: application/octet-stream\r\n\r\n" + value + b"\r\n")
        else:
            out += f'--FUZZ\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return out + b"--FUZZ--\r\n"


corpora["fuzz_standin_request"] = [
    # first byte: 0 raw; else route (byte % 9): 0 (9) POST events/, 1 POST reservations/, 2 POST G1 upload,
    # 3 POST v2 reservations/, 4 GET events/, 5 GET events/G<tail>, 6 GET G1 files/<tail>, 7 GET api/, 8 = 1
    b"\x09" + form(group="CBC", pipeline="gstlal", search="AllSky", eventFile=event or b"<xml/>"),
    b"\x01" + form(group="Test", pipeline="gstlal"),
    b"\x02" + form(group="CBC", pipeline="gstlal", eventFile=cwb or b"x"),
    b"\x09" + form(group="cbc", pipeline="GSTLAL", search="allsky"),
    b"\x09" + form(group="CBC", pipeline="gstlal", labels="EM_READY", offline="true", eventFile=b""),
    b"\x05" + b"1000000000000000000000",
    b"\x06" + b"coinc.xml",
    b"\x00GET /api/v1/ HTTP/1.1\r\nHost: x\r\nUser-Agent: gracedb-client/1.9\r\n\r\n",
    b"\x00POST /api/events/ HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde",
    b"\x00GET / HTTP/1.0\r\n\r\n",
    b"\x09--FUZZ\r\nContent-Disposition: form-data; name=\"group\"\r\n\r\nCBC",
]

for target, seeds in corpora.items():
    d = root / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("seed-*"):
        old.unlink()
    for i, s in enumerate(x for x in seeds if x != b""):
        (d / f"seed-{i:02d}").write_bytes(s if isinstance(s, bytes) else s.encode())
    print(f"{target}: {len(list(d.glob('seed-*')))} seeds")
