#!/usr/bin/python3
"""Python: gracedb_cpp against python3-confluent-kafka + json.dumps (the path of ligo-gracedb's producer), on the
same broker in the same run. Prints figures and ratios; asserts nothing.

  1. produce(dict) throughput: messages per second, a ~1 KiB event-like dict, until every message is delivered.
     Baselines: confluent-kafka with json.dumps(...).encode() (a) bare and (b) with a per-message delivery
     callback, as the original does with guaranteed_delivery=True.
  2. create_event latency (reserve a graceid over HTTP, publish the event file over Kafka, wait for delivery):
     gracedb_cpp's GraceDb.create_event(kafka=producer) against the same steps in Python (http.client with a
     kept-alive connection, base64 + json.dumps, confluent-kafka produce + flush).

The broker is the embedded sandbox's (librdkafka's mock cluster, with the GraceDB stand-in) unless --bootstrap
names a plaintext Kafka listener (e.g. the rig's RIG_PLAIN_BOOTSTRAP); the stand-in is always the sandbox's.

  PYTHONPATH=build/python /usr/bin/python3 bench/bench_python.py [--messages 100000] [--events 300]
"""

import argparse
import base64
import http.client
import json
import os
import pathlib
import statistics
import time
import urllib.parse
import uuid

import confluent_kafka

from gracedb_cpp.kafka import GraceDbKafkaProducer
from gracedb_cpp.rest import GraceDb
from gracedb_cpp.testing import Sandbox

HERE = pathlib.Path(__file__).resolve().parent


def event_like_dict():
    obj = {"type": "event", "graceid": "G123456", "pipeline": "gstlal", "group": "CBC", "search": "AllSky",
           "offline": False, "gracedb_upload": True, "skip_supervisor": False, "submitter": "albert.einstein",
           "_producer_timestamp": 1764172800.123, "labels": ["EM_READY", "PE_READY"],
           "far": 1.23e-12, "snr": 11.4, "ifos": "H1,L1,V1", "gpstime": 1387584018.123456}
    i = 0
    while len(json.dumps(obj)) < 1024:
        obj["extra_%d" % i] = "x" * 60
        i += 1
    return obj


def confluent_config(bootstrap):
    # What GraceDbKafkaProducer(guaranteed_delivery=True) sets, for both clients.
    return {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "compression.type": "zstd"}


def throughput_gracedb_cpp(bootstrap, kafka_config, topic, obj, n):
    p = GraceDbKafkaProducer(bootstrap, topic=topic, instance_name="bench", **kafka_config)
    p.ping(timeout=30)  # connected before the clock starts
    start = time.perf_counter()
    cpu = time.thread_time()
    for _ in range(n):
        p.produce(obj)
    cpu = time.thread_time() - cpu
    left = p.flush(120)
    elapsed = time.perf_counter() - start
    p.close()
    assert left == 0
    return n / elapsed, cpu / n * 1e6


def throughput_confluent(bootstrap, topic, obj, n, callback):
    p = confluent_kafka.Producer(confluent_config(bootstrap))
    delivered = [0, 0]

    def on_delivery(err, msg):
        delivered[1 if err else 0] += 1

    p.produce(topic, b"warm-up")
    p.flush(30)
    start = time.perf_counter()
    cpu = time.thread_time()
    for _ in range(n):
        while True:
            try:
                if callback:
                    p.produce(topic, json.dumps(obj).encode("utf-8"), on_delivery=on_delivery)
                else:
                    p.produce(topic, json.dumps(obj).encode("utf-8"))
                break
            except BufferError:
                p.poll(0.001)
        p.poll(0)
    cpu = time.thread_time() - cpu
    left = p.flush(120)
    elapsed = time.perf_counter() - start
    assert left == 0 and delivered[1] == 0
    return n / elapsed, cpu / n * 1e6


class PythonCreateEvent:
    """create_event's Kafka path written in Python, as ligo-gracedb takes it: reserve over HTTP, base64 the
    file, json.dumps the message, produce with a delivery callback, flush."""

    def __init__(self, service_url, bootstrap, instance):
        u = urllib.parse.urlsplit(service_url)
        # *.localhost is loopback (libcurl knows; getaddrinfo may not): connect there, name the host in Host.
        self.conn = http.client.HTTPConnection("127.0.0.1" if u.hostname.endswith("localhost") else u.hostname,
                                               u.port, timeout=30)
        self.headers = {"User-Agent": "bench-python/1", "Host": u.netloc}
        root = self.get_json(u.path + "v2/")
        self.reservations = urllib.parse.urlsplit(root["links"]["reservations"]).path
        self.producer = confluent_kafka.Producer(confluent_config(bootstrap))
        self.instance = instance

    def get_json(self, path):
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body)
        return json.loads(body)

    def __call__(self, group, pipeline, filename, data, search):
        form = urllib.parse.urlencode({"group": group, "pipeline": pipeline, "search": search})
        self.conn.request("POST", self.reservations, body=form,
                          headers={**self.headers, "Content-Type": "application/x-www-form-urlencoded"})
        r = self.conn.getresponse()
        reserved = json.loads(r.read())
        assert r.status == 201, reserved
        message = {"type": "event", "_producer_timestamp": time.time(), "graceid": reserved["graceid"],
                   "pipeline": pipeline, "submitter": reserved["submitter"],
                   "eventFile": [filename, base64.b64encode(data).decode("ascii")], "group": group,
                   "search": search, "offline": False, "labels": [], "gracedb_upload": True,
                   "skip_supervisor": False}
        outcome = []
        self.producer.produce(f"{self.instance}.{pipeline.lower()}", json.dumps(message).encode("utf-8"),
                              key=reserved["graceid"], on_delivery=lambda err, msg: outcome.append(err))
        self.producer.flush(10)
        assert outcome == [None], outcome
        return reserved["graceid"]


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def event_file():
    shared = pathlib.Path(os.environ.get("GRACEDB_SHARED_DATA_DIR", HERE.parent.parent / "shared" / "data"))
    for path in (shared / "events" / "coinc.xml", HERE.parent / "examples" / "data" / "sample-coinc.xml"):
        if path.is_file():
            return path
    raise SystemExit("no event file found")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100000, help="messages per throughput run")
    ap.add_argument("--events", type=int, default=300, help="create_event calls per client")
    ap.add_argument("--rounds", type=int, default=3, help="throughput runs per client (alternated)")
    ap.add_argument("--bootstrap", help="a plaintext Kafka listener to use instead of the sandbox's")
    a = ap.parse_args()

    with Sandbox() as sb:
        bootstrap = a.bootstrap or sb.bootstrap_servers
        kafka_config = dict(sb.kafka_config)
        print(f"broker: {'the sandbox (mock cluster)' if not a.bootstrap else a.bootstrap}; "
              f"librdkafka of confluent-kafka {confluent_kafka.libversion()[0]}")

        # --- 1. produce(dict) throughput ----------------------------------------------------------------
        obj = event_like_dict()
        print(f"\nproduce(dict) throughput, {a.messages} messages of {len(json.dumps(obj))} bytes, "
              f"{a.rounds} alternated rounds, until all delivered:")
        names = ("gracedb_cpp produce(dict)", "confluent json.dumps", "confluent json.dumps + on_delivery")
        rates = {k: [] for k in names}
        cpus = {k: [] for k in names}
        for r in range(a.rounds):  # interleaved, so that a busy moment of the machine hits all three
            topic = f"tp-{uuid.uuid4().hex[:8]}"
            runs = ((names[0], lambda: throughput_gracedb_cpp(bootstrap, kafka_config, topic + "-cpp", obj,
                                                               a.messages)),
                    (names[1], lambda: throughput_confluent(bootstrap, f"bench.{topic}-ck", obj, a.messages,
                                                            callback=False)),
                    (names[2], lambda: throughput_confluent(bootstrap, f"bench.{topic}-ckcb", obj, a.messages,
                                                            callback=True)))
            for k in range(3):  # rotated: no client always runs first
                name, run = runs[(r + k) % 3]
                rate, cpu = run()
                rates[name].append(rate)
                cpus[name].append(cpu)
            print(f"  round {r + 1}: " + ", ".join(f"{n} {rates[n][-1]:.0f}/s" for n in names) +
                  f"; ratios {rates[names[0]][-1] / rates[names[1]][-1]:.2f} and "
                  f"{rates[names[0]][-1] / rates[names[2]][-1]:.2f}")
        print("  best of the rounds, and the calling thread's CPU time per produce() call (median; the Python "
              "side's share, the broker threads excluded):")
        for name in names:
            print(f"  {name:38s} {max(rates[name]):10.0f} msg/s   {statistics.median(cpus[name]):6.2f} us/msg CPU")
        for base in names[1:]:
            ratios = [o / b for o, b in zip(rates[names[0]], rates[base])]
            print(f"  gracedb_cpp / {base + ':':36s} {max(rates[names[0]]) / max(rates[base]):.2f} (best), "
                  f"{statistics.median(ratios):.2f} (median of the rounds' ratios); CPU per message "
                  f"{statistics.median(cpus[names[0]]) / statistics.median(cpus[base]):.2f} of it")

        # --- 2. create_event latency --------------------------------------------------------------------
        path = event_file()
        data = path.read_bytes()
        print(f"\ncreate_event latency, {a.events} events of {len(data)} bytes ({path.name}), reserve over HTTP "
              f"+ publish over Kafka + wait for delivery:")
        client = GraceDb(sb.service_url, api_version="v2")
        producer = GraceDbKafkaProducer(bootstrap, service_url=sb.service_url, **kafka_config)
        producer.ping(timeout=30)
        baseline = PythonCreateEvent(sb.service_url, bootstrap, sb.instance)
        ours_ms, base_ms, steps = [], [], {}
        for i in range(a.events):  # interleaved
            t = time.perf_counter()
            r = client.create_event("CBC", "gstlal", path.name, filecontents=data, search="AllSky", kafka=producer)
            ours_ms.append((time.perf_counter() - t) * 1000)
            for step, s in r.timings.items():
                steps.setdefault(step, []).append(s * 1000)
            t = time.perf_counter()
            baseline("CBC", "gstlal", path.name, data, "AllSky")
            base_ms.append((time.perf_counter() - t) * 1000)
        producer.close()
        for name, v in (("gracedb_cpp create_event", ours_ms), ("Python: http.client + confluent", base_ms)):
            print(f"  {name:34s} p50 {statistics.median(v):7.2f} ms   p90 {percentile(v, 0.9):7.2f} ms   "
                  f"mean {statistics.fmean(v):7.2f} ms")
        print(f"  ratio p50 Python / gracedb_cpp: {statistics.median(base_ms) / statistics.median(ours_ms):.2f}   "
              f"p90: {percentile(base_ms, 0.9) / percentile(ours_ms, 0.9):.2f}")
        print("  gracedb_cpp's own steps (p50): " +
              ", ".join(f"{k} {statistics.median(v):.2f} ms" for k, v in steps.items()))
        if sb.failure:
            print(f"(the sandbox's supervisor failed meanwhile: {sb.failure})")


if __name__ == "__main__":
    main()
