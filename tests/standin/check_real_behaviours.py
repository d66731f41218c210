#!/usr/bin/python3
"""Drives the GraceDB stand-in with Python's urllib (an independent client) and checks the real server's
behaviours listed in ../shared/notes/gracedb-server.md. Usage: check_real_behaviours.py STANDIN_SERVER"""
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def start(server, tmp, *args):
    p = subprocess.Popen([server, tmp, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = p.stdout.readline().strip()
    if not url.startswith("http://"):
        raise SystemExit("the stand-in printed no URL: %r" % url)
    return p, url


def request(url, method="GET", token=None, agent="check-real-behaviours/1", fields=None, file=None):
    """(status, headers, body text). agent=None: no User-Agent header at all."""
    data, headers = None, {}
    if fields is not None:
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields:
            parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                         % (boundary.encode(), name.encode(), value.encode()))
        if file is not None:
            parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"eventFile\"; filename=\"%s\"\r\n"
                         b"Content-Type: application/octet-stream\r\n\r\n%s\r\n"
                         % (boundary.encode(), file[0].encode(), file[1]))
        parts.append(b"--%s--\r\n" % boundary.encode())
        data = b"".join(parts)
        headers["Content-Type"] = "multipart/form-data; boundary=" + boundary
    if token:
        headers["Authorization"] = "Bearer " + token
    if agent is not None:
        headers["User-Agent"] = agent
    opener = urllib.request.build_opener()
    opener.addheaders = []  # urllib's own "Python-urllib/3.x" would be a User-Agent
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def create(url, token, group="CBC", pipeline="gstlal", search=None, labels=(), content=b"<LIGO_LW/>"):
    fields = [("group", group), ("pipeline", pipeline), ("offline", "False")]
    if search:
        fields.append(("search", search))
    fields += [("labels", l) for l in labels]
    return request(url + "events/", "POST", token, fields=fields, file=("coinc.xml", content))


def main():
    server = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        p, url = start(server, tmp)
        tok = {n: open(tmp + "/" + n).read().strip()
               for n in ("good", "good2", "expired", "wrong_audience", "bad_signature")}
        try:
            status, _, body = request(url)
            root = json.loads(body)
            check(status == 200, "GET the API root at " + url + " (urllib resolves the URL)")
            for key in ("groups", "pipelines", "searches", "labels", "API_VERSIONS"):
                check(isinstance(root.get(key), list), "the root carries the vocabulary " + key)
            check("CWB" in root["pipelines"] and "cwb" not in root["pipelines"] and "test" not in root["pipelines"],
                  "pipelines with their real names and case (CWB, no cwb, no test)")
            check({"CBC", "Burst", "Test", "External"} <= set(root["groups"]), "the real groups")
            check({"superevents", "events", "self", "performance", "user-info"} <= set(root["links"]),
                  "links superevents, events, self, performance, user-info")
            check({"event-detail-template", "files-template"} <= set(root["templates"]), "the templates")
            check(root["links"]["events"].endswith("/api/events/"), "event list with the slash")
            check(root["templates"]["event-detail-template"].endswith("events/{graceid}"), "detail without the slash")
            for v in ("v1/", "v2/"):
                s, _, b = request(url + v)
                check(s == 200 and json.loads(b)["links"]["self"].endswith("/api/" + v), "the root at api/" + v)

            s, h, b = request(url, agent=None)
            check(s == 400 and b.startswith("Your client software is out of date"), "no User-Agent: 400, plain text")
            s, _, b = request(url, agent="gracedb-client/1.0")
            check(s == 400 and "not supported" in b, "gracedb-client with an old version: 400")
            s, _, b = request(url, agent="my gracedb-client")
            check(s == 400 and "Error parsing" in b, "gracedb-client without a version: 400")
            # Not checked: an empty User-Agent passes on the real server; cpp-httplib 0.11 drops a header whose
            # value is empty, so the stand-in sees none and answers 400 (a known difference).
            check(request(url, agent="Mozilla/5.0")[0] == 200, "any other User-Agent passes")

            for name in ("expired", "wrong_audience", "bad_signature"):
                check(request(url, token=tok[name])[0] == 200, "a token " + name + " is anonymous: the root reads")
                s, _, b = create(url, tok[name])
                check(s == 403 and json.loads(b) == {"detail": "Authentication credentials were not provided."},
                      "a token " + name + " is anonymous: a creation is 403 {\"detail\": ...}, never 401")
            s, _, b = create(url, None)
            check(s == 403 and "detail" in json.loads(b), "no token: 403 {\"detail\": ...}")

            s, h, b = create(url, tok["good"], search="AllSky", labels=["EM_READY"])
            ev = json.loads(b)
            check(s == 201, "a creation with a good token: 201")
            check(ev.get("warnings") == [] and ev["graceid"].startswith("G") and "superevent_neighbours" not in ev,
                  "201 body: the event plus warnings, no superevent_neighbours")
            check(ev["submitter"] == "pipeline", "the user is sub, lower-cased")
            check(h.get("Location", "").endswith("/api/events/" + ev["graceid"]), "201 with a Location header")
            check(ev["labels"] == ["EM_READY"] and ev["search"] == "AllSky", "labels and search stored")
            s, _, b = request(url + "events/" + ev["graceid"], token=tok["good"])
            check(s == 200 and json.loads(b)["graceid"] == ev["graceid"], "the event detail")
            s, _, b = request(url + "events/G9999999", token=tok["good"])
            check(s == 404 and b == "Event not found.", "a missing event: 404 plain text")
            s, _, b = request(url + "events/" + ev["graceid"] + "/files/coinc.xml", token=tok["good"])
            check(s == 200 and b == "<LIGO_LW/>", "the event file, byte-exact")

            s, _, b = create(url, tok["good"], pipeline="cwb")
            check(s == 400 and json.loads(b) == {"error": "Please provide a valid pipeline."},
                  "pipeline cwb (case): 400 {\"error\": ...}")
            s, _, b = create(url, tok["good"], group="cbc")
            errs = json.loads(b).get("errors", []) if s == 400 else []
            check(len(errs) == 1 and errs[0].startswith("group: "), "group cbc: 400 {\"errors\": [\"group: ...\"]}")
            s, _, b = create(url, tok["good"], group="Test", pipeline="cwb")
            errs = json.loads(b).get("errors", []) if s == 400 else []
            check(len(errs) == 1 and errs[0].startswith("pipeline: "), "Test group, pipeline cwb: errors list")
            s, _, b = create(url, tok["good"], labels=["em_ready"])
            check(s == 400 and json.loads(b)["errors"][0].startswith("labels: "), "label em_ready: 400")
            s, _, b = create(url, tok["good"], search="allsky")
            check(s == 400 and json.loads(b)["errors"][0].startswith("search: "), "search allsky: 400")
            s, _, b = create(url, tok["good"], content=b"")
            check(s == 400 and json.loads(b)["errors"][0].startswith("eventFile: "), "an empty event file: 400")

            for group, pipeline, search, prefix in (("Test", "gstlal", None, "T"), ("CBC", "gstlal", "MDC", "M"),
                                                    ("CBC", "HardwareInjection", None, "H"),
                                                    ("External", "Fermi", None, "E"), ("Burst", "CWB", None, "G")):
                s, _, b = create(url, tok["good"], group, pipeline, search)
                check(s == 201 and json.loads(b)["graceid"].startswith(prefix),
                      "graceid prefix %s for %s/%s/%s" % (prefix, group, pipeline, search))
        finally:
            p.stdin.close()
            p.wait(timeout=30)

        p, url = start(server, tmp + "/throttled", "2")
        tok = open(tmp + "/throttled/good").read().strip()
        other = open(tmp + "/throttled/good2").read().strip()
        try:
            statuses, retry_after = [], None
            for _ in range(6):
                s, h, b = create(url, tok)
                statuses.append(s)
                if s == 429:
                    retry_after = h.get("Retry-After")
                    check("throttled" in json.loads(b)["detail"], "429 body {\"detail\": \"Request was throttled...\"}")
                    break
            check(429 in statuses, "creations over the rate: 429 (statuses %s)" % statuses)
            check(retry_after is not None and int(retry_after) >= 1, "429 with Retry-After")
            check(create(url, other)[0] == 201, "the throttle is per user")
            time.sleep(int(retry_after or 1) + 0.2)
            check(create(url, tok)[0] == 201, "after Retry-After the creation goes through")
        finally:
            p.stdin.close()
            p.wait(timeout=30)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
