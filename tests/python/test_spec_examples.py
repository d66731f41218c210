"""Every Python example of the specification (docs of ligo-gracedb's Kafka integration), run against the
embedded sandbox: librdkafka's mock cluster (plaintext), the GraceDB stand-in and a supervisor in this process.

What changes from the examples as written, and only that: `from ligo.gracedb...` becomes `from gracedb_cpp...`;
the broker address and service URL are the sandbox's; `**SANDBOX` adds {"security.protocol": "plaintext"} (the
mock cluster has no TLS and no SASL); and the endless stream loops are ended as the spec says a user ends them,
with Ctrl-C (SIGINT), sent by a helper thread.
"""

import builtins
import signal
import threading
import time

import certifi
import pytest

from conftest import unique, wait_until
from gracedb_cpp.kafka import (
    GraceDbKafkaConsumer,
    GraceDbKafkaProducer,
    KafkaError,
    derive_instance_name,
    make_topic_name,
    parse_topic_name,
)
from gracedb_cpp.rest import GraceDb


@pytest.fixture
def sb(gracedb_sandbox):
    return gracedb_sandbox


def follower(sb, pipeline="test", **kw):
    """An independent consumer of the sandbox that reads a pipeline's topic from the start."""
    c = GraceDbKafkaConsumer(sb.bootstrap_servers, topics=pipeline, instance_name=sb.instance,
                             group_id=unique("follower"), auto_offset_reset="earliest", **sb.kafka_config, **kw)
    return c


def read_until(consumer, predicate, timeout=30.0):
    """Polls `consumer` until a message satisfies `predicate`; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = consumer.poll(timeout=0.5)
        if msg is not None and predicate(msg):
            return msg
    pytest.fail(f"no matching message within {timeout} s")


# --- Topic namespacing -----------------------------------------------------------------------------------

def test_topic_utilities():
    assert derive_instance_name("https://gracedb-dev.ligo.org/api/") == "gracedb-dev"
    assert make_topic_name("gracedb-dev", "gstlal") == "gracedb-dev.gstlal"
    assert parse_topic_name("gracedb-dev.gstlal") == ("gracedb-dev", "gstlal")
    # The class reference's doctests.
    assert derive_instance_name("https://gracedb.ligo.org/api/") == "gracedb"
    assert derive_instance_name("https://localhost:8080/api/") == "localhost"


def test_topic_utilities_raise_value_error():
    with pytest.raises(ValueError, match="nodot"):
        parse_topic_name("nodot")
    with pytest.raises(ValueError):
        derive_instance_name("not a url")
    with pytest.raises(ValueError):
        make_topic_name("gracedb-dev", "bad name")


# --- Producer ---------------------------------------------------------------------------------------------

def test_creating_and_producing(sb):
    SANDBOX = sb.kafka_config
    producer = GraceDbKafkaProducer(
        bootstrap_servers=sb.bootstrap_servers,
        topic="test",
        service_url=sb.service_url,
        ca_cert_path=certifi.where(),
        **SANDBOX,
    )
    run = unique("run")
    producer.produce({"graceid": "G12345", "group": "CBC", "run": run})
    assert producer.flush() == 0       # wait for delivery confirmation
    producer.close()       # flush remaining messages and release resources

    assert producer.pending_messages == 0
    with pytest.raises(KafkaError, match="closed"):
        producer.produce({"after": "close"})
    with follower(sb) as c:
        msg = read_until(c, lambda m: isinstance(m["value"], dict) and m["value"].get("run") == run)
    assert msg["value"] == {"graceid": "G12345", "group": "CBC", "run": run}
    assert msg["topic"] == "localhost.test"


def test_producer_as_context_manager(sb):
    SANDBOX = sb.kafka_config
    run = unique("run")
    with GraceDbKafkaProducer(
        bootstrap_servers=sb.bootstrap_servers,
        topic="test",
        service_url=sb.service_url,
        ca_cert_path=certifi.where(),
        **SANDBOX,
    ) as producer:
        producer.produce({"graceid": "G12345", "group": "CBC", "run": run})
    assert producer.pending_messages == 0  # closed: flushed on the way out
    with follower(sb) as c:
        read_until(c, lambda m: isinstance(m["value"], dict) and m["value"].get("run") == run)


def test_ping(sb):
    producer = GraceDbKafkaProducer(bootstrap_servers=sb.bootstrap_servers, topic="test",
                                    service_url=sb.service_url, **sb.kafka_config)
    result = producer.ping(topic="test")
    print(result)
    assert set(result) == {"topic", "partition", "offset", "message"}
    assert result["topic"] == "localhost.test"
    assert result["offset"] >= 0 and result["partition"] >= 0
    assert result["message"]["type"] == "ping"
    assert result["message"]["sub"] is None  # plaintext: no token, so no claims
    producer.close()


def test_class_reference_produce_examples(sb):
    producer = GraceDbKafkaProducer(
        bootstrap_servers=sb.bootstrap_servers,
        topic="test",
        service_url=sb.service_url,
        ca_cert_path="/tmp/cacert.pem",
        **sb.kafka_config,
    )
    producer.produce(value={"graceid": "G12345"})
    # Message is published to localhost.test
    producer.produce(
        value={"graceid": "G12345"},
        topic="gstlal",
        key="G12345",
    )
    assert producer.flush(timeout=30) == 0
    producer.close()
    with follower(sb, "gstlal") as c:
        msg = read_until(c, lambda m: m["key"] == "G12345")
    assert msg["topic"] == "localhost.gstlal"


# --- Uploading events with Kafka ----------------------------------------------------------------------------

def test_create_event_basic_example(sb, event_dir, capsys):
    SANDBOX = sb.kafka_config
    client = GraceDb(sb.service_url, api_version='v2')

    producer = GraceDbKafkaProducer(
        bootstrap_servers=sb.bootstrap_servers,
        service_url=sb.service_url,
        ca_cert_path=certifi.where(),
        **SANDBOX,
    )

    response = client.create_event(
        "CBC", "gstlal", "coinc.xml",
        search="AllSky",
        kafka=producer,
    )
    # Message is published to localhost.gstlal
    print(response.json()["graceid"])   # e.g. "G123456"

    producer.close()

    graceid = capsys.readouterr().out.strip()
    assert graceid.startswith("G")
    assert response.status_code == 202  # accepted: the supervisor completes the upload
    assert {"reserve", "publish", "total"} <= set(response.timings)
    # The sandbox's supervisor uploads it: the stand-in then holds the event and the file, byte-exact.
    wait_until(lambda: sb.standin.event(graceid) is not None, what=f"upload of {graceid} by the supervisor")
    assert sb.standin.event_file(graceid) == (event_dir / "coinc.xml").read_bytes()
    event = client.event(graceid).json()
    assert event["graceid"] == graceid and event["pipeline"] == "gstlal" and event["search"] == "AllSky"


def test_flush_timeout_and_factory_and_fallback(sb, event_dir):
    SANDBOX = sb.kafka_config
    client = GraceDb(sb.service_url, api_version='v2')
    producer = GraceDbKafkaProducer(
        bootstrap_servers=sb.bootstrap_servers,
        service_url=sb.service_url,
        ca_cert_path=certifi.where(),
        flush_timeout=30,  # wait up to 30s for delivery
        **SANDBOX,
    )
    assert producer.flush_timeout == 30

    factory = client.create_kafka_producer(
        bootstrap_servers=sb.bootstrap_servers,
        topic="test",
        ca_cert_path=certifi.where(),
        **SANDBOX,
    )
    assert factory.instance_name == "localhost" and factory.default_topic == "test"

    response = client.create_event(
        "CBC", "gstlal", "coinc.xml",
        kafka=producer,
        http_fallback=True,
    )
    assert response.json()["graceid"].startswith("G")

    # The class reference's create_event example (keyword arguments, filecontents).
    data = (event_dir / "coinc.xml").read_bytes()
    gdb = client
    r = gdb.create_event(
        group="CBC", pipeline="gstlal", filename="coinc.xml",
        filecontents=data, kafka=producer,
    )
    graceid = r.json()["graceid"]
    wait_until(lambda: sb.standin.event(graceid) is not None, what=f"upload of {graceid}")
    assert sb.standin.event_file(graceid) == data
    producer.close()
    factory.close()


def test_http_fallback_when_kafka_is_unreachable(sb, event_dir):
    client = GraceDb(sb.service_url, api_version='v2')
    dead = GraceDbKafkaProducer(bootstrap_servers="127.0.0.1:9", service_url=sb.service_url,
                                flush_timeout=2, **sb.kafka_config)
    response = client.create_event("CBC", "gstlal", "coinc.xml", kafka=dead, http_fallback=True)
    graceid = response.json()["graceid"]
    assert response.status_code == 201  # completed over HTTP by upload_reserved_event
    assert sb.standin.event(graceid) is not None
    with pytest.raises(KafkaError):
        client.create_event("CBC", "gstlal", "coinc.xml", kafka=dead)  # no fallback: the Kafka error
    dead.close(timeout=1)  # both failures were raised by create_event: close() has nothing more (C++'s rule)


def test_skipping_server_side_processing(sb, event_dir):
    client = GraceDb(sb.service_url, api_version='v2')
    producer = GraceDbKafkaProducer(bootstrap_servers=sb.bootstrap_servers, service_url=sb.service_url,
                                    **sb.kafka_config)
    with follower(sb, "gstlal") as c:
        assert c.wait_for_assignment(30)
        r = client.create_event("CBC", "gstlal", "coinc.xml", kafka=producer, gracedb_upload=False)
        assert r.json()["graceid"] is None
        msg = read_until(c, lambda m: isinstance(m["value"], dict) and m["value"].get("gracedb_upload") is False)
        assert msg["key"] is None and msg["value"]["graceid"] is None
        r = client.create_event("CBC", "gstlal", "coinc.xml", kafka=producer, skip_supervisor=True)
        graceid = r.json()["graceid"]
        msg = read_until(c, lambda m: isinstance(m["value"], dict) and m["value"].get("graceid") == graceid)
        assert msg["value"]["skip_supervisor"] is True
        assert msg["key"] == graceid
    producer.close()


# --- Consumer ---------------------------------------------------------------------------------------------

class Feeder:
    """Produces {"run": ..., "seq": n} to a pipeline every 0.1 s on a thread until stopped: the messages a
    live consumer waits for (a consumer in "latest" mode sees only what comes after it joined)."""

    def __init__(self, sb, pipeline="test", key=None):
        self.run = unique("run")
        self.seq = 0
        self._stop = threading.Event()
        self._producer = GraceDbKafkaProducer(sb.bootstrap_servers, topic=pipeline, instance_name=sb.instance,
                                              **sb.kafka_config)
        self._key = key
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            self._producer.produce({"run": self.run, "seq": self.seq}, key=self._key)
            self.seq += 1
            self._producer.poll(0)
            self._stop.wait(0.1)

    def mine(self, msg):
        return isinstance(msg["value"], dict) and msg["value"].get("run") == self.run

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the feeder's produce() or poll() did not return within 30 s"
        self._producer.close()


def test_live_streaming_ends_cleanly_on_ctrl_c(sb, sigint_when):
    feeder = Feeder(sb)
    seen = []

    def print(value):  # the example prints msg["value"]; recorded here to know when to press Ctrl-C
        seen.append(value)
        builtins.print(value)

    before = signal.getsignal(signal.SIGINT)
    ctrl_c = sigint_when(lambda: any(isinstance(v, dict) and v.get("run") == feeder.run for v in seen))
    SANDBOX = sb.kafka_config
    with GraceDbKafkaConsumer(
        bootstrap_servers=sb.bootstrap_servers,
        topics="test",
        service_url=sb.service_url,
        ca_cert_path=certifi.where(),
        **SANDBOX,
    ) as consumer:
        for msg in consumer.stream():
            print(msg["value"])
    ctrl_c.join()
    feeder.stop()
    assert ctrl_c.sent.is_set()
    assert any(isinstance(v, dict) and v.get("run") == feeder.run for v in seen)
    assert signal.getsignal(signal.SIGINT) is before  # the original handler is back


# librdkafka 2.0.2's mock cluster ignores LeaveGroup: the second run would wait 45 s (the default session
# timeout) for the first run's member to expire before it gets partitions.
MOCK_REJOIN = {"session.timeout.ms": 6000}


def test_persisting_read_position(sb, sigint_when):
    feeder = Feeder(sb, key="persist")  # one key: one partition, in order
    group = unique("my-pipeline-consumer")
    got = []

    def process(msg):
        if feeder.mine(msg):
            got.append(msg["value"]["seq"])

    def run_once(n):
        start = len(got)
        ctrl_c = sigint_when(lambda: len(got) >= start + n)
        with GraceDbKafkaConsumer(
            bootstrap_servers=sb.bootstrap_servers,
            topics="test",
            service_url=sb.service_url,
            group_id=group,
            ca_cert_path=certifi.where(),
            **sb.kafka_config,
            **MOCK_REJOIN,
        ) as consumer:
            for msg in consumer.stream():
                process(msg)
        ctrl_c.join()

    run_once(3)
    first_run_last = got[-1]
    wait_until(lambda: feeder.seq > first_run_last + 5, what="more messages meanwhile")
    run_once(2)
    feeder.stop()
    # The second run resumes right after the last message the first run processed: none lost, none repeated.
    resumed = got[got.index(first_run_last) + 1]
    assert resumed == first_run_last + 1, got
    assert got == sorted(set(got)), got


def test_replaying_history(sb, sigint_when):
    producer = GraceDbKafkaProducer(sb.bootstrap_servers, topic="test", instance_name=sb.instance,
                                    **sb.kafka_config)
    run = unique("replay")
    for i in range(3):
        producer.produce({"run": run, "i": i}, key=run)
    producer.close()
    printed = []

    def print(msg):
        printed.append(msg)

    ctrl_c = sigint_when(lambda: sum(1 for m in printed if isinstance(m["value"], dict)
                                     and m["value"].get("run") == run) == 3)
    with GraceDbKafkaConsumer(
        bootstrap_servers=sb.bootstrap_servers,
        topics="test",
        service_url=sb.service_url,
        group_id=unique("my-replay-group"),
        auto_offset_reset="earliest",
        ca_cert_path=certifi.where(),
        **sb.kafka_config,
    ) as consumer:
        for msg in consumer.stream():
            print(msg)
    ctrl_c.join()
    mine = [m for m in printed if isinstance(m["value"], dict) and m["value"].get("run") == run]
    assert [m["value"]["i"] for m in mine] == [0, 1, 2]
    m = mine[0]
    assert set(m) == {"topic", "partition", "offset", "key", "value", "timestamp", "headers"}
    assert m["key"] == run and m["headers"] == {} and isinstance(m["timestamp"], int)
    assert abs(m["timestamp"] / 1000 - time.time()) < 600


def test_polling_manually(sb, sigint_when):
    feeder = Feeder(sb)
    handled = []

    def handle(msg):
        handled.append(msg)

    ctrl_c = sigint_when(lambda: any(feeder.mine(m) for m in handled))
    consumer = GraceDbKafkaConsumer(
        bootstrap_servers=sb.bootstrap_servers,
        service_url=sb.service_url,
        ca_cert_path=certifi.where(),
        **sb.kafka_config,
    )
    consumer.subscribe("test")

    with pytest.raises(KeyboardInterrupt):  # the loop runs until Ctrl-C
        while True:
            msg = consumer.poll(timeout=1.0)
            if msg is not None:
                handle(msg)
    ctrl_c.join()
    feeder.stop()
    consumer.close()
    assert any(feeder.mine(m) for m in handled)


def test_class_reference_consumer_examples_need_an_instance(sb):
    # The class reference's consumer examples give neither service_url nor instance_name, which the same
    # page says is required: the consumer says so with a ValueError.
    with pytest.raises(ValueError, match="instance_name|service_url"):
        with GraceDbKafkaConsumer(
            bootstrap_servers=sb.bootstrap_servers,
            topics="test",
            ca_cert_path="/tmp/cacert.pem",
        ) as consumer:
            for msg in consumer.stream():
                print(msg)


def test_token_reloading_switched_off_without_sasl(sb):
    producer = GraceDbKafkaProducer(
        bootstrap_servers=sb.bootstrap_servers,
        service_url=sb.service_url,
        reload_cred=False,
        **sb.kafka_config,
    )
    assert producer.token_claims is None and producer.token_refresh_count == 0
    producer.close()
