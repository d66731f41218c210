#!/usr/bin/python3
"""The Python anchor of bench_producer: python3-confluent-kafka producing json.dumps() of a 1 KiB object,
the path ligo-gracedb's producer takes. Prints messages per second."""
import argparse
import json
import os
import time

import confluent_kafka


def token_cb(_config):
    path = os.environ.get("BEARER_TOKEN_FILE") or os.path.join(
        os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "bt_u%d" % os.geteuid())
    token = open(path).read().strip()
    payload = token.split(".")[1]
    claims = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return token, float(claims["exp"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--messages", type=int, default=50000)
    ap.add_argument("--ca")
    a = ap.parse_args()
    conf = {"bootstrap.servers": a.bootstrap, "acks": "all", "enable.idempotence": True,
            "compression.type": "zstd", "socket.nagle.disable": True}
    if a.ca:
        conf.update({"security.protocol": "SASL_SSL", "sasl.mechanisms": "OAUTHBEARER",
                     "ssl.ca.location": a.ca, "oauth_cb": token_cb})
    p = confluent_kafka.Producer(conf)
    obj = {"type": "event", "graceid": "G123456", "pipeline": "gstlal", "group": "CBC", "search": "AllSky",
           "offline": False, "gracedb_upload": True, "skip_supervisor": False, "submitter": "albert.einstein",
           "_producer_timestamp": 1764172800.123, "labels": ["EM_READY", "PE_READY"]}
    i = 0
    while len(json.dumps(obj)) < 1024:
        obj["extra_%d" % i] = "x" * 60
        i += 1
    p.poll(0.1)
    start = time.perf_counter()
    for _ in range(a.messages):
        while True:
            try:
                p.produce(a.topic, json.dumps(obj).encode())
                break
            except BufferError:
                p.poll(0.001)
        p.poll(0)
    p.flush(60)
    print("%.0f" % (a.messages / (time.perf_counter() - start)))


if __name__ == "__main__":
    main()
