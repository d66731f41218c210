"""close() from one thread while another thread is inside a call of the same client (issue 22, item 4).

Before the fix, a consumer's close() during another thread's poll() destroyed librdkafka's handle under the
running poll: the interpreter died with SIGSEGV in most runs. Now the call in the other thread ends with a
clean KafkaConsumerError / KafkaProducerError saying the client is closed (a consumer's poll may also return
None), and so does every later call. Each scenario runs 100 times, on librdkafka's mock cluster (consumer)
or a port where nothing listens (producer: the message stays queued, so flush() and pending_messages have
work).
"""

import threading

import pytest

from conftest import unique
from gracedb_cpp.kafka import (
    GraceDbKafkaConsumer,
    GraceDbKafkaProducer,
    KafkaConsumerError,
    KafkaError,
    KafkaProducerError,
)
from gracedb_cpp.testing import MockCluster

REPETITIONS = 100
LONG = 30.0  # what the other thread's call would wait if close() did not end it
DEAD = "127.0.0.1:9"
PLAIN = {"security.protocol": "plaintext"}


@pytest.fixture(scope="module")
def cluster():
    with MockCluster() as c:
        c.create_topic("pytest.quiet", 1)
        yield c


def in_thread(call):
    """Runs `call` in a thread: (started event, thread, a list that gets what the call ended with)."""
    started = threading.Event()
    outcome = []

    def body():
        started.set()
        try:
            outcome.append(("returned", call()))
        except Exception as e:  # noqa: BLE001 -- the test inspects what it was
            outcome.append(("raised", e))

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return started, t, outcome


def assert_closed_error(outcome, error_type, rep):
    kind, value = outcome[0]
    assert kind == "raised", f"rep {rep}: the call returned {value!r} instead of raising"
    assert type(value) is error_type and "closed" in str(value), f"rep {rep}: {type(value).__name__}: {value}"


def test_consumer_close_while_another_thread_polls(cluster):
    for rep in range(REPETITIONS):
        c = GraceDbKafkaConsumer(cluster.bootstrap_servers, topics="quiet", instance_name="pytest",
                                 group_id=unique("close"), **PLAIN)

        def poll_forever():
            while True:
                if c.poll(LONG) is not None:
                    return "a message"

        started, t, outcome = in_thread(poll_forever)
        assert started.wait(LONG)
        c.close()
        t.join(LONG / 2)
        assert not t.is_alive(), f"rep {rep}: the poll did not end when close() returned"
        kind, value = outcome[0]
        assert kind == "returned" or (type(value) is KafkaConsumerError and "closed" in str(value)), \
            f"rep {rep}: {kind} {value!r}"
        with pytest.raises(KafkaConsumerError, match="closed"):
            c.poll(0)
        with pytest.raises(KafkaConsumerError, match="closed"):
            c.commit()


@pytest.mark.parametrize("call", ["poll", "flush", "pending_messages"])
def test_producer_close_while_another_thread_is_inside(call):
    for rep in range(REPETITIONS):
        p = GraceDbKafkaProducer(DEAD, topic="t", instance_name="pytest", **PLAIN)
        p.produce("never delivered")
        close_returned = threading.Event()

        def inside():
            if call == "poll":
                while True:
                    p.poll(LONG)
            elif call == "flush":
                while True:
                    p.flush(LONG)
            else:
                while not close_returned.is_set():  # counts (nothing once close() began), no crash
                    len(p)
                p.poll(0)

        started, t, outcome = in_thread(inside)
        assert started.wait(LONG)
        with pytest.raises(KafkaError):
            p.close(0)  # the queued message is purged, and said so (with the connection failure)
        close_returned.set()
        t.join(LONG / 2)
        assert not t.is_alive(), f"rep {rep}: {call} did not end when close() returned"
        assert_closed_error(outcome, KafkaProducerError, rep)
        with pytest.raises(KafkaProducerError, match="closed"):
            p.produce("late")
        with pytest.raises(KafkaProducerError, match="closed"):
            p.flush(0)
        assert p.pending_messages == 0
