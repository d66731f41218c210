"""The Python API beyond the examples: argument checking, value types, delivery callbacks and their
exceptions, the GIL, Ctrl-C inside blocking calls. Against the embedded sandbox, or a port where nothing
listens (127.0.0.1:9) where a broker must be unreachable."""

import json
import socket
import threading
import time
import warnings

import pytest

from conftest import fake_token, unique, wait_until, write_secret
from gracedb_cpp.kafka import (
    GraceDbKafkaConsumer,
    GraceDbKafkaProducer,
    KafkaAuthenticationError,
    KafkaConnectionError,
    KafkaConsumerError,
    KafkaError,
    KafkaMessageDeliveryError,
    KafkaProducerError,
    KafkaTokenError,
    KafkaUnfinishedEventError,
    SciTokenRefreshManager,
    create_oauth_callback,
    derive_instance_name,
    get_scitoken_for_kafka,
)
from gracedb_cpp.rest import GraceDb, GraceDbError, HTTPError, TransportError

DEAD = "127.0.0.1:9"  # nothing listens there
PLAIN = {"security.protocol": "plaintext"}
# librdkafka 2.0.2's mock cluster ignores LeaveGroup: a consumer that rejoins a group it just left waits for the
# old member's session to time out (45 s by default).
MOCK_REJOIN = {"session.timeout.ms": 6000}


@pytest.fixture
def sb(gracedb_sandbox):
    return gracedb_sandbox


# Topics of these tests live outside the sandbox's instance: a new topic under "gracedb-sandbox." makes the
# sandbox's supervisor (subscribed to "^gracedb-sandbox\\..*") rebalance, and with librdkafka 2.0.2's mock cluster
# that rejoin can stall for minutes (JoinGroup held back), delaying the uploads the example tests wait for.
INSTANCE = "pytest"


def producer_for(sb, **kw):
    return GraceDbKafkaProducer(sb.bootstrap_servers, instance_name=INSTANCE, **sb.kafka_config, **kw)


def consumer_for(sb, pipeline, **kw):
    return GraceDbKafkaConsumer(sb.bootstrap_servers, topics=pipeline, instance_name=INSTANCE,
                                group_id=unique("g"), auto_offset_reset="earliest", **sb.kafka_config, **kw)


def read(consumer, n, timeout=30.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None:
            out.append(m)
    assert len(out) == n, f"got {len(out)} of {n} messages"
    return out


# --- the exception tree ------------------------------------------------------------------------------------

def test_exception_tree_is_the_specs():
    assert issubclass(KafkaError, Exception)
    assert issubclass(KafkaAuthenticationError, KafkaError)
    assert issubclass(KafkaTokenError, KafkaAuthenticationError)
    assert issubclass(KafkaProducerError, KafkaError)
    assert issubclass(KafkaMessageDeliveryError, KafkaProducerError)
    assert issubclass(KafkaConsumerError, KafkaError)
    assert issubclass(KafkaConnectionError, KafkaError)
    assert not issubclass(KafkaError, ValueError)
    assert issubclass(HTTPError, GraceDbError) and issubclass(TransportError, ConnectionError)
    assert KafkaTokenError.__module__ == "gracedb_cpp.kafka"


# --- arguments ---------------------------------------------------------------------------------------------

def test_instance_identity_is_exactly_one_of_two():
    with pytest.raises(ValueError, match="instance_name|service_url"):
        GraceDbKafkaProducer(DEAD, **PLAIN)
    with pytest.raises(ValueError, match="instance_name|service_url"):
        GraceDbKafkaProducer(DEAD, instance_name="x", service_url="https://gracedb-dev.ligo.org/api/", **PLAIN)


def test_produce_without_topic_is_a_value_error():
    p = GraceDbKafkaProducer(DEAD, instance_name="x", **PLAIN)
    with pytest.raises(ValueError, match="topic"):
        p.produce({"a": 1})
    assert p.pending_messages == 0


def test_auto_refresh_token_is_deprecated_and_a_warning_filter_can_make_it_an_error():
    with pytest.warns(DeprecationWarning, match="reload_cred"):
        GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", auto_refresh_token=False, **PLAIN).close(0)
    # Under -W error::DeprecationWarning the warning is raised (it was swallowed, and construction went on).
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        with pytest.raises(DeprecationWarning, match="reload_cred"):
            GraceDbKafkaConsumer(DEAD, instance_name="x", auto_refresh_token=False, **PLAIN)


def test_kafka_config_takes_dotted_keys_and_checks_them():
    p = GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **{"linger.ms": 5, "enable.idempotence": True,
                                                                     "security.protocol": "plaintext"})
    p.close(0)
    with pytest.raises(ValueError, match="no.such.key"):
        GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **{"no.such.key": 1}, **PLAIN)
    with pytest.raises(ValueError, match="queue.buffering.max.ms|linger.ms"):  # librdkafka names the alias
        GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **{"linger.ms": "soon"}, **PLAIN)
    with pytest.raises(ValueError, match="callable"):
        GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **{"error_cb": print}, **PLAIN)
    with pytest.raises(ValueError, match="acks"):  # contradicts guaranteed_delivery=True
        GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **{"acks": 1}, **PLAIN)
    with pytest.raises(ValueError, match="auto_offset_reset|nowhere"):
        GraceDbKafkaConsumer(DEAD, instance_name="x", auto_offset_reset="nowhere", **PLAIN)


def test_bad_values_are_type_errors(sb):
    p = producer_for(sb, topic=unique("bad"))
    with pytest.raises(TypeError, match="dict, str or bytes"):
        p.produce(12)
    with pytest.raises(TypeError, match="not JSON serializable"):
        p.produce({"a": {1, 2}})
    with pytest.raises(ValueError, match="NaN"):
        p.produce({"a": float("nan")})
    with pytest.raises(TypeError, match="keys"):
        p.produce({(1, 2): "tuple key"})
    with pytest.raises(TypeError, match="key"):
        p.produce("x", key=12)
    with pytest.raises(TypeError, match="on_delivery"):
        p.produce("x", on_delivery=3)
    deep = []
    cur = deep
    for _ in range(1000):
        cur.append([])
        cur = cur[0]
    with pytest.raises(ValueError, match="deep"):
        p.produce({"deep": deep})
    assert p.flush(30) == 0  # nothing was produced: nothing to wait for
    p.close()


def test_signatures_have_the_specs_defaults():
    import inspect
    doc = GraceDbKafkaProducer.__init__.__doc__
    for text in ["topic: object = None", "use_ssl: bool = True", "token_scope: str = 'kafka.produce'",
                 "reload_buffer: float = 300", "flush_timeout: float = 10", "guaranteed_delivery: bool = True",
                 "**kwargs"]:
        assert text in doc, text
    assert "timeout: float = -1" in GraceDbKafkaProducer.flush.__doc__
    assert "timeout: float = 30" in GraceDbKafkaProducer.close.__doc__
    assert "timeout: float = 10" in GraceDbKafkaProducer.ping.__doc__
    cdoc = GraceDbKafkaConsumer.__init__.__doc__
    assert "token_scope: str = 'kafka.consume'" in cdoc and "auto_offset_reset: str = 'latest'" in cdoc
    assert "timeout: float = 1.0" in GraceDbKafkaConsumer.poll.__doc__
    sig = inspect.signature(GraceDbKafkaConsumer.stream)
    assert sig.parameters["timeout"].default == 1.0 and sig.parameters["count"].default is None


# --- values on the wire ------------------------------------------------------------------------------------

def test_dict_str_and_bytes_round_trip(sb):
    pipeline = unique("types")
    d = {"s": "é\"\\\n\t\u2028\x01", "i": 2**70, "neg": -3, "f": 1e16, "g": 0.1, "t": True, "n": None,
         "l": [1, [2, {"x": ()}]], 1: "int key", None: "none key", 2.5: "float key", False: "bool key"}
    p = producer_for(sb, topic=pipeline)
    p.produce(d, key="k1", headers={"h1": "v1", "h2": b"\xff\xfe"})
    p.produce("plain text", key=b"\xff")
    p.produce(b"\x00\xffbinary")
    p.produce(bytearray(b"from a bytearray"))
    p.produce("3", partition=0)
    assert p.flush(30) == 0
    p.close()
    with consumer_for(sb, pipeline) as c:
        msgs = sorted(read(c, 5), key=lambda m: (m["partition"], m["offset"]))
    by_value = {json.dumps(m["value"], sort_keys=True) if not isinstance(m["value"], bytes) else m["value"]: m
                for m in msgs}
    expected = json.loads(json.dumps(d))  # what json.dumps (the original's path) would have sent
    m = next(m for m in msgs if isinstance(m["value"], dict))
    assert m["value"] == expected
    assert m["key"] == "k1" and m["headers"] == {"h1": "v1", "h2": b"\xff\xfe"}
    text = next(m for m in msgs if m["value"] == "plain text")
    assert text["key"] == b"\xff"  # not UTF-8: bytes
    assert any(m["value"] == b"\x00\xffbinary" for m in msgs)
    assert any(m["value"] == "from a bytearray" for m in msgs)
    three = next(m for m in msgs if m["value"] == 3)  # JSON text is parsed, as the tool's listen does
    assert three["partition"] == 0
    assert by_value


def test_a_dict_is_sent_as_the_text_json_dumps_writes(sb):
    # Byte for byte: json.dumps with compact separators and UTF-8 left as is (the value as sent, from on_delivery).
    d = {"graceid": "G1", "s": "é\"\\\n\t\u2028\x01\x7f", "i": 2**70, "neg": -3, "big": 2**63 - 1,
         "small": -2**63, "f": 1e16, "g": 0.1, "h": -1.5e-300, "t": True, "n": None,
         "l": [1, [2, {"x": ()}]], 1: "int key", None: "none key", 2.5: "float key", False: "bool key",
         "long": "x" * 3000}
    sent = []
    p = producer_for(sb, topic=unique("exact"))
    for _ in range(3):  # also once the buffer is sized by an earlier message
        p.produce(d, on_delivery=lambda err, msg: sent.append((err, msg.value())))
    p.produce({"short": 1}, on_delivery=lambda err, msg: sent.append((err, msg.value())))
    assert p.flush(30) == 0
    p.close()
    expected = json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # (in any order: the topic has several partitions)
    assert sorted(sent) == sorted([(None, expected)] * 3 + [(None, b'{"short":1}')])


# --- delivery reports --------------------------------------------------------------------------------------

def test_on_delivery_gets_err_none_and_the_message(sb):
    pipeline = unique("dr")
    reports = []
    p = producer_for(sb, topic=pipeline)
    p.produce({"graceid": "G1"}, key="G1", on_delivery=lambda err, msg: reports.append((err, msg)))
    assert p.flush(30) == 0
    err, msg = reports[0]
    assert err is None
    assert msg.topic() == f"{INSTANCE}.{pipeline}" and msg.offset() >= 0 and msg.partition() >= 0
    assert msg.key() == b"G1" and json.loads(msg.value()) == {"graceid": "G1"} and msg.error() is None
    p.close()


def test_on_delivery_gets_the_failure():
    reports = []
    p = GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **PLAIN, **{"message.timeout.ms": 500})
    p.produce("lost", key="k", on_delivery=lambda err, msg: reports.append((err, msg)))
    p.flush(10)
    err, msg = reports[0]
    assert isinstance(err, KafkaMessageDeliveryError) and "x.t" in str(err)
    assert msg.error() and msg.value() == b"lost"
    p.close(0)


def test_failure_without_on_delivery_is_raised_by_flush():
    p = GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **PLAIN, **{"message.timeout.ms": 500})
    p.produce("lost", key="the-key")
    with pytest.raises(KafkaMessageDeliveryError, match="the-key"):
        p.flush(10)
    p.close(0)


def test_exceptions_of_on_delivery_come_back_one_per_call_none_lost(sb):
    p = producer_for(sb, topic=unique("boom"))
    calls = []

    def boom(err, msg):
        calls.append(msg.value())
        raise RuntimeError(f"boom {msg.value().decode()}")

    p.produce("1", key="k", on_delivery=boom)  # one key: one partition, reports in order
    p.produce("2", key="k", on_delivery=boom)
    with pytest.raises(RuntimeError, match="boom 1"):
        p.flush(30)  # flushed first, then raises
    assert p.pending_messages == 0 and len(calls) == 2
    with pytest.raises(RuntimeError, match="boom 2"):
        p.produce("3", key="k", on_delivery=boom)  # raised before producing: "3" is not sent
    p.produce("4", key="k", on_delivery=lambda err, msg: calls.append(msg.value()))  # nothing left to raise
    assert p.flush(30) == 0
    assert calls == [b"1", b"2", b"4"]
    p.close()


def test_exception_of_on_delivery_is_raised_by_poll(sb):
    p = producer_for(sb, topic=unique("boom"))

    def bad(err, msg):
        raise ValueError("from the callback")

    p.produce("x", on_delivery=bad)
    with pytest.raises(ValueError, match="from the callback"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            p.poll(0.1)
    p.close()


# --- the GIL and Ctrl-C ------------------------------------------------------------------------------------

class Counter:
    """A Python thread counting while the main thread waits in the library: it advances only when the
    GIL is released."""

    def __init__(self):
        self.n = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.n += 1
            x = 0
            for i in range(2000):  # pure Python work: needs the GIL
                x += i
            time.sleep(0.001)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.n


def test_gil_is_released_while_polling_and_flushing(sb):
    c = consumer_for(sb, unique("empty"))
    counter = Counter()
    start = counter.n
    assert c.poll(timeout=1.5) is None
    during_poll = counter.n - start
    p = GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **PLAIN)
    p.produce("never")
    start = counter.n
    with pytest.raises(KafkaConnectionError):
        p.flush(1.5)
    during_flush = counter.n - start
    counter.stop()
    c.close()
    with pytest.raises(KafkaError):
        p.close(0)
    # Held for the whole wait, the GIL would leave the counter at 0 (or 1); released, it runs freely.
    assert during_poll >= 3 and during_flush >= 3, (during_poll, during_flush)


def seconds_until_ctrl_c_ends(call, sigint_when):
    """Runs call(), sends SIGINT half a second in, checks that it raised KeyboardInterrupt; returns how long
    it took in all."""
    started = time.monotonic()
    ctrl_c = sigint_when(lambda: time.monotonic() - started > 0.5)
    with pytest.raises(KeyboardInterrupt):
        call()
    ctrl_c.join()
    return time.monotonic() - started


def test_ctrl_c_ends_a_flush_without_limit(sigint_when):
    # A broker that hangs (a refusing one is a connection error at once, below)
    broker = SilentBroker()
    p = GraceDbKafkaProducer(broker.address, topic="t", instance_name="x", **PLAIN)
    p.produce("never delivered")
    # -1: no limit; librdkafka would retry for message.timeout.ms (5 minutes)
    assert seconds_until_ctrl_c_ends(p.flush, sigint_when) < 60
    assert p.pending_messages >= 1  # interrupted, not lost: still queued
    with pytest.raises(KafkaError):
        p.close(timeout=0.5)
    broker.close()


def test_a_flush_without_limit_to_an_address_no_broker_answers_raises_at_once():
    # A wrong address: without a limit the flush would wait for ever; it says so at once (as C++ does).
    p = GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **PLAIN)
    p.produce("never delivered")
    started = time.monotonic()
    with pytest.raises(KafkaConnectionError):
        p.flush()
    assert time.monotonic() - started < 30
    assert p.pending_messages == 1  # still queued: not lost
    with pytest.raises(KafkaError):
        p.close(timeout=0.5)


def test_ctrl_c_ends_a_long_consumer_poll(sb, sigint_when):
    c = consumer_for(sb, unique("quiet"))
    # within a slice of Ctrl-C, not the 30 s of the poll
    assert seconds_until_ctrl_c_ends(lambda: c.poll(timeout=30), sigint_when) < 10
    c.close()


def test_ctrl_c_ends_a_flush_with_a_limit_and_keeps_the_message(sigint_when):
    # A broker that is down: the flush waits its whole time (a connection error only when it is up).
    p = GraceDbKafkaProducer(DEAD, topic="t", instance_name="x", **PLAIN)
    p.produce("never delivered")
    assert seconds_until_ctrl_c_ends(lambda: p.flush(30), sigint_when) < 10  # not the 30 s of the flush
    assert p.pending_messages == 1 and len(p) == 1  # interrupted, not lost: still queued
    with pytest.raises(KafkaError):
        p.close(timeout=0.5)


class SilentBroker:
    """A port that accepts connections and never answers: a broker that hangs rather than refuses."""

    def __init__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.address = "127.0.0.1:%d" % self._sock.getsockname()[1]

    def close(self):
        self._sock.close()


def test_ctrl_c_ends_a_ping_to_a_broker_that_never_answers(sigint_when):
    broker = SilentBroker()
    p = GraceDbKafkaProducer(broker.address, topic="t", instance_name="x", **PLAIN)
    assert seconds_until_ctrl_c_ends(lambda: p.ping(timeout=30), sigint_when) < 10  # not the 30 s of the ping
    p.close(timeout=0.5)  # the ping's message is the ping's own: close() has nothing of it to report
    broker.close()


def test_create_kafka_producer_names_the_clients_instance_unless_told(sb):
    client = GraceDb(sb.service_url)
    assert client.create_kafka_producer(DEAD, **PLAIN).instance_name == derive_instance_name(sb.service_url)
    assert client.create_kafka_producer(DEAD, instance_name="other", **PLAIN).instance_name == "other"
    assert client.create_kafka_producer(
        DEAD, service_url="https://gracedb-dev.ligo.org/api/", **PLAIN).instance_name == "gracedb-dev"
    with pytest.raises(ValueError):  # both: the producer's own rule, as GraceDbKafkaProducer's
        client.create_kafka_producer(DEAD, instance_name="a", service_url=sb.service_url, **PLAIN)


def test_stop_from_another_thread_ends_the_stream(sb):
    c = consumer_for(sb, unique("stoppable"))
    threading.Timer(0.5, c.stop).start()
    assert list(c.stream(timeout=30)) == []  # ended by stop(), well before a 30 s poll
    c.close()


def test_stream_count(sb):
    pipeline = unique("count")
    p = producer_for(sb, topic=pipeline)
    for i in range(5):
        p.produce({"i": i}, key="same")
    p.close()
    with consumer_for(sb, pipeline) as c:
        got = [m["value"]["i"] for m in c.stream(timeout=0.5, count=3)]
        assert got == [0, 1, 2]
        assert [m["value"]["i"] for m in c.stream(count=2)] == [3, 4]


def test_commit_of_a_message_dict(sb):
    pipeline = unique("commit")
    group = unique("g")
    p = producer_for(sb, topic=pipeline)
    for i in range(4):
        p.produce({"i": i}, key="same")
    p.close()
    kw = dict(topics=pipeline, instance_name=INSTANCE, group_id=group, auto_offset_reset="earliest",
              **sb.kafka_config, **{"enable.auto.commit": False}, **MOCK_REJOIN)
    with GraceDbKafkaConsumer(sb.bootstrap_servers, **kw) as c:
        msgs = read(c, 2)
        c.commit(msgs[1])
    with GraceDbKafkaConsumer(sb.bootstrap_servers, **kw) as c:
        assert read(c, 1)[0]["value"]["i"] == 2


# --- tokens (discovery only: no broker) --------------------------------------------------------------------

def test_token_helpers_find_the_token(token_dir):
    token = fake_token(aud="kafka.example.org", scope="kafka.produce")
    write_secret(token_dir / "token", token)
    assert get_scitoken_for_kafka("kafka.example.org:9092") == token
    got, expiry = create_oauth_callback("kafka.example.org:9092")("")
    assert got == token and expiry > time.time()
    m = SciTokenRefreshManager("kafka.example.org:9092", refresh_buffer=60)
    assert m.get_token() == token and m.claims["sub"] == "pytest" and m.refresh_count == 0


def test_token_error_lists_places_never_the_token(token_dir):
    expired = fake_token(lifetime=-100)
    write_secret(token_dir / "token", expired)
    with pytest.raises(KafkaTokenError) as info:
        get_scitoken_for_kafka("kafka.example.org:9092")
    assert "BEARER_TOKEN_FILE" in str(info.value) and "expired" in str(info.value)
    assert expired not in str(info.value) and expired.split(".")[1] not in str(info.value)


# --- REST errors -------------------------------------------------------------------------------------------

def test_rest_errors(sb, event_dir):
    client = GraceDb(sb.service_url, api_version="v2")
    with pytest.raises(HTTPError) as info:
        client.event("G999999999")
    assert info.value.status_code == 404 and info.value.response.status_code == 404
    with pytest.raises(ValueError):
        client.create_event("CBC", "gstlal", "no-such-file.xml")
    nobody = GraceDb("http://localhost:9/api/", force_noauth=True, retries=0)
    with pytest.raises(TransportError):
        nobody.event("G1")


# --- create_event's outcomes -------------------------------------------------------------------------------

def test_an_unfinished_event_names_its_graceid_and_is_finished_with_it(sb):
    client = GraceDb(sb.service_url, api_version="v2")
    dead = GraceDbKafkaProducer(DEAD, service_url=sb.service_url, flush_timeout=2, **sb.kafka_config)
    with pytest.raises(KafkaUnfinishedEventError) as info:
        client.create_event("CBC", "gstlal", "coinc.xml", filecontents=b"<LIGO_LW/>", kafka=dead)
    e = info.value
    assert isinstance(e, KafkaMessageDeliveryError)
    # librdkafka still holds the message: it may still be delivered, so a new create_event is not invited.
    assert e.graceid.startswith("G") and e.graceid in str(e)
    assert e.may_still_be_delivered is True and e.retriable is False
    r = client.upload_reserved_event(e.graceid, "CBC", "gstlal", "coinc.xml", filecontents=b"<LIGO_LW/>")
    assert r.status_code == 201 and sb.standin.event(e.graceid) is not None
    again = client.upload_reserved_event(e.graceid, "CBC", "gstlal", "coinc.xml", filecontents=b"<LIGO_LW/>")
    assert again.status_code == 409  # idempotent: already done
    # The message's failure was raised already (KafkaUnfinishedEventError): close() reports nothing more, as
    # in C++ (one flush rule: a connection error is raised by a flush, not by close()).
    dead.close(timeout=1)


def test_an_unfinished_event_in_the_outbox_is_completed_by_resume_outbox(sb, tmp_path):
    # The crash-safe outbox from Python (GraceDb(outbox=...), resume_outbox()): an event whose message did not
    # reach Kafka stays journaled as unfinished, and resume_outbox uploads it under its own graceid, once.
    client = GraceDb(sb.service_url, api_version="v2", outbox=tmp_path / "outbox")
    dead = GraceDbKafkaProducer(DEAD, service_url=sb.service_url, flush_timeout=2, **sb.kafka_config)
    with pytest.raises(KafkaUnfinishedEventError) as info:
        client.create_event("CBC", "gstlal", "coinc.xml", filecontents=b"<LIGO_LW/>", kafka=dead)
    gid = info.value.graceid
    assert sb.standin.event(gid) is None
    done = client.resume_outbox()
    assert done["completed"] == 1 and done["failed"] == 0 and done["errors"] == [], done
    assert sb.standin.event(gid) is not None
    assert client.resume_outbox()["completed"] == 0  # finished entries are left alone: not uploaded twice
    with pytest.raises(ValueError, match="no outbox"):
        GraceDb(sb.service_url, api_version="v2").resume_outbox()
    # The message's failure was raised already (KafkaUnfinishedEventError): close() reports nothing more, as
    # in C++ (one flush rule: a connection error is raised by a flush, not by close()).
    dead.close(timeout=1)


def test_a_producer_of_another_instance_is_refused_before_anything_is_reserved(sb):
    client = GraceDb(sb.service_url, api_version="v2")
    before = client.reserve_graceid("CBC", "gstlal").json()["graceid"]
    with producer_for(sb) as other:  # instance "pytest", not the service's
        with pytest.raises(KafkaProducerError) as info:
            client.create_event("CBC", "gstlal", "coinc.xml", filecontents=b"<LIGO_LW/>", kafka=other,
                                http_fallback=True)
    assert '"pytest"' in str(info.value) and f'"{sb.instance}"' in str(info.value)
    after = client.reserve_graceid("CBC", "gstlal").json()["graceid"]
    assert int(after[1:]) == int(before[1:]) + 1  # nothing reserved in between
