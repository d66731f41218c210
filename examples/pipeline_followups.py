#!/usr/bin/env python3
"""A pipeline's whole submission: the specification's create_event over Kafka, then at once the follow-ups a
search pipeline sends (as PyCBC Live does): p_astro.json attached with a log entry and the label PASTRO_READY;
then the event read back with its logs and labels. No waiting loop of its own: GraceDB has the event only once
the supervisor uploaded it, and the client waits for that (reservation_wait, default 60 s).
See docs/followups.md.

    pipeline_followups.py [event file] [p_astro.json]

Where: $GRACEDB_KAFKA_BOOTSTRAP, $GRACEDB_SERVICE_URL, $GRACEDB_KAFKA_PROTOCOL (as `gracedb-kafka sandbox`
exports them), else the specification's gracedb-test.
"""

import os
import sys

from gracedb_cpp.rest import GraceDb


def main(event_file="coinc.xml", pastro_file="p_astro.json"):
    bootstrap = os.environ.get("GRACEDB_KAFKA_BOOTSTRAP", "kafka-dev.ligo.org:9092")
    service_url = os.environ.get("GRACEDB_SERVICE_URL", "https://gracedb-test.ligo.org/api/")
    config = {}
    if os.environ.get("GRACEDB_KAFKA_PROTOCOL"):
        config["security.protocol"] = os.environ["GRACEDB_KAFKA_PROTOCOL"]

    # A stand-in on this machine (the sandbox) has no authentication; a real GraceDB uses your SciToken.
    client = GraceDb(service_url, force_noauth=service_url.startswith("http://"))
    with client.create_kafka_producer(bootstrap, **config) as producer:
        # The specification's example: reserve over HTTP, publish over Kafka.
        created = client.create_event("CBC", "gstlal", event_file, search="AllSky", kafka=producer)
    graceid = created.json()["graceid"]
    print(f"created {graceid} over Kafka (status {created.status_code})")

    # The follow-ups, at once: p_astro.json with a log entry and its tag, then the label.
    log = client.write_log(graceid, "Source classification", filename=pastro_file, tag_name="p_astro")
    waited = log.timings.get("reservation_wait")
    print(f"log entry {log.json()['N']} with {log.json()['filename']}"
          + (f" (waited {waited * 1000:.0f} ms for the upload)" if waited else ""))
    client.write_label(graceid, "PASTRO_READY")

    # Read the event back, with its logs and labels.
    event = client.event(graceid).json()
    print(f"event {event['graceid']}: pipeline {event['pipeline']}, labels {event['labels']}")
    for entry in client.logs(graceid).json()["log"]:
        shown = f" [{entry['filename']}]" if entry["filename"] else ""
        print(f"  log {entry['N']}: {entry['comment']}{shown}")
    labels = [x["name"] for x in client.labels(graceid).json()["labels"]]
    with open(pastro_file, "rb") as f:
        same_bytes = client.files(graceid, "p_astro.json").content == f.read()
    if "PASTRO_READY" not in labels or not same_bytes:
        print(f"pipeline_followups: labels {labels}, p_astro.json byte-exact: {same_bytes}", file=sys.stderr)
        return 1
    print("pipeline_followups: ok (p_astro.json byte-exact, PASTRO_READY applied)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
