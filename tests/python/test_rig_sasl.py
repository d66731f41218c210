"""The specification's SASL examples against the real broker of the test rig (Apache Kafka, SASL_SSL +
OAUTHBEARER validated by the broker, TLS with the rig's CA), with tokens minted by `rig-tool mint`.

The examples' service URLs (gracedb-dev / gracedb-test) are kept: the rig allows the test principals on the
topics of those instances. Only the broker address and the CA file are the rig's.
"""

import threading
import time

import pytest

from conftest import unique, wait_until
from gracedb_cpp.kafka import (
    GraceDbKafkaConsumer,
    GraceDbKafkaProducer,
    KafkaAuthenticationError,
    KafkaError,
    KafkaTokenError,
    SciTokenRefreshManager,
    create_oauth_callback,
    get_scitoken_for_kafka,
)
from gracedb_cpp.rest import GraceDb


def test_creating_producing_and_ping(rig, rig_token):
    producer = GraceDbKafkaProducer(
        bootstrap_servers=rig.sasl_bootstrap,
        topic="test",
        service_url="https://gracedb-dev.ligo.org/api/",
        ca_cert_path=rig.ca_file,
    )
    producer.produce({"graceid": "G12345", "group": "CBC"})
    assert producer.flush() == 0
    result = producer.ping(topic="test")
    print(result)
    assert result["topic"] == "gracedb-dev.test"
    assert result["message"]["type"] == "ping"
    assert result["message"]["sub"] == "pipeline"  # the token's claims, never the token
    assert "kafka.produce" in result["message"]["scope"]
    assert rig_token.read_text().strip() not in repr(result)
    producer.close()


def test_context_manager_and_consumer_over_sasl(rig, rig_token):
    run = unique("run")
    with GraceDbKafkaConsumer(
        bootstrap_servers=rig.sasl_bootstrap,
        topics="test",
        service_url="https://gracedb-dev.ligo.org/api/",
        group_id=unique("my-replay-group"),
        auto_offset_reset="earliest",
        ca_cert_path=rig.ca_file,
    ) as consumer:
        with GraceDbKafkaProducer(
            bootstrap_servers=rig.sasl_bootstrap,
            topic="test",
            service_url="https://gracedb-dev.ligo.org/api/",
            ca_cert_path=rig.ca_file,
        ) as producer:
            producer.produce({"graceid": "G12345", "group": "CBC", "run": run})
        for msg in consumer.stream(timeout=1.0):
            if isinstance(msg["value"], dict) and msg["value"].get("run") == run:
                break
    assert msg["topic"] == "gracedb-dev.test" and msg["value"]["graceid"] == "G12345"


def test_create_event_over_sasl(rig, rig_token, event_dir, monkeypatch):
    from gracedb_cpp.testing import StandIn

    # The stand-in is plain http:// on this machine: the client refuses to send a token in clear text unless
    # explicitly allowed.
    monkeypatch.setenv("GRACEDB_ALLOW_TOKEN_OVER_HTTP", "1")

    with StandIn(url_host="gracedb-test.localhost") as standin:
        client = GraceDb(standin.service_url, api_version='v2')
        producer = GraceDbKafkaProducer(
            bootstrap_servers=rig.sasl_bootstrap,
            service_url=standin.service_url,
            ca_cert_path=rig.ca_file,
            flush_timeout=30,
        )
        response = client.create_event(
            "CBC", "gstlal", "coinc.xml",
            search="AllSky",
            kafka=producer,
        )
        # Message is published to gracedb-test.gstlal
        graceid = response.json()["graceid"]
        producer.close()
    assert graceid.startswith("G") and response.status_code == 202
    with GraceDbKafkaConsumer(rig.sasl_bootstrap, topics="gstlal", instance_name="gracedb-test",
                              group_id=unique("check"), auto_offset_reset="earliest",
                              ca_cert_path=rig.ca_file) as consumer:
        for msg in consumer.stream():
            if msg["key"] == graceid:
                break
    assert msg["value"]["graceid"] == graceid and msg["value"]["eventFile"][0] == "coinc.xml"


def test_authentication_helpers(rig, rig_token):
    token = rig_token.read_text().strip()
    assert get_scitoken_for_kafka(rig.sasl_bootstrap) == token
    assert get_scitoken_for_kafka(rig.sasl_bootstrap, scope="kafka.consume") == token
    callback = create_oauth_callback(rig.sasl_bootstrap)
    got, expiry = callback("")
    assert got == token and time.time() + 500 < expiry < time.time() + 700
    manager = SciTokenRefreshManager(rig.sasl_bootstrap, refresh_buffer=300)
    assert manager.get_token() == token
    assert manager.create_callback()("")[0] == token
    assert manager.claims["sub"] == "pipeline"


def test_no_token_is_a_token_error_naming_the_places(rig, token_dir):
    with pytest.raises(KafkaTokenError, match="BEARER_TOKEN_FILE") as info:
        GraceDbKafkaProducer(bootstrap_servers=rig.sasl_bootstrap, topic="test",
                             service_url="https://gracedb-dev.ligo.org/api/", ca_cert_path=rig.ca_file)
    assert isinstance(info.value, KafkaAuthenticationError)


def test_untrusted_ca_is_refused(rig, rig_token):
    producer = GraceDbKafkaProducer(bootstrap_servers=rig.sasl_bootstrap, topic="test",
                                    service_url="https://gracedb-dev.ligo.org/api/",
                                    ca_cert_path=rig.ca_file.replace("ca.pem", "other-ca.pem"))
    with pytest.raises(KafkaError):  # TLS verification is on: a broker our CA did not sign is not trusted
        producer.ping(timeout=5)
    # The ping raised the TLS failure and its message is the ping's own: close() reports nothing more (C++'s
    # close rule, which Python follows).
    producer.close(timeout=1)


def test_reload_cred_false_example(rig, rig_token):
    producer = GraceDbKafkaProducer(
        bootstrap_servers=rig.sasl_bootstrap,
        service_url="https://gracedb-dev.ligo.org/api/",
        reload_cred=False,
        ca_cert_path=rig.ca_file,
    )
    assert producer.ping()["topic"] == "gracedb-dev.test"
    producer.close()


def test_idle_producer_keeps_publishing_after_its_first_token_expired(rig, token_dir):
    """A token renewed on disk every 10 s (20 s lifetimes, like htgettoken in cron) is picked up by
    librdkafka's own thread while Python calls nothing: after 45 s of idling (two lifetimes), the next message
    is delivered, with a token the producer read itself."""
    path = token_dir / "token"
    rig.mint(path, lifetime=20)
    first = path.read_text()
    stop = threading.Event()
    renewals = []

    def renew():
        while not stop.wait(10):
            rig.mint(path, lifetime=20)
            renewals.append(time.monotonic())

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        producer = GraceDbKafkaProducer(
            bootstrap_servers=rig.sasl_bootstrap,
            topic=unique("idle"),
            instance_name="rig",
            ca_cert_path=rig.ca_file,
            reload_buffer=5,
            flush_timeout=30,
            **{"message.timeout.ms": 60000, "reconnect.backoff.max.ms": 500},
        )
        assert producer.ping(timeout=20)["offset"] >= 0
        first_exp = producer.token_claims["exp"]
        time.sleep(45)  # idle: no call into the producer at all
        assert time.time() > first_exp + 10, "the first token has expired"
        assert producer.token_refresh_count >= 2, "refreshed in the background while Python slept"
        assert producer.token_claims["exp"] > first_exp
        result = producer.ping(timeout=20)
        assert result["offset"] >= 0
        producer.produce({"after": "idle"})
        assert producer.flush(30) == 0
        producer.close()
    finally:
        stop.set()
        renewer.join()
    assert len(renewals) >= 3 and path.read_text() != first
