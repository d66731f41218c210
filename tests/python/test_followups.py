"""Follow-ups on gracedb_cpp.rest.GraceDb (issue 23) with ligo-gracedb 2.x's names and arguments, against the
GraceDB stand-in; and the reservation window: a follow-up on a graceid this client published over Kafka waits
until GraceDB has the event (reservation_wait), while other graceids fail at once.

The window tests run Kafka (librdkafka's mock cluster) and the stand-in with no supervisor: an event published
over Kafka stays reserved until the test itself does what the supervisor does, the idempotent reserved upload.
"""

import gc
import threading

import pytest

from conftest import wait_until
from gracedb_cpp import set_log_level
from gracedb_cpp.kafka import GraceDbKafkaProducer
from gracedb_cpp.rest import EventNotUploadedError, GraceDb, HTTPError
from gracedb_cpp.testing import MockCluster, StandIn

PLAIN = {"security.protocol": "plaintext"}
COINC = b"<LIGO_LW>coinc</LIGO_LW>"
PASTRO = b'{"BNS": 0.9, "NSBH": 0.05, "BBH": 0.03, "Terrestrial": 0.02}'


@pytest.fixture
def standin():
    """A GraceDB stand-in for one test."""
    with StandIn() as s:
        yield s
        # Clients a test left in a reference cycle (pytest.raises keeps the frame) close their kept-alive
        # connections now, or the stand-in's shutdown waits for them to time out (5 s).
        gc.collect()


def new_event(client):
    return client.create_event("CBC", "gstlal", "coinc.xml", filecontents=COINC).json()["graceid"]


def test_write_log_with_a_file_and_tags_is_read_back(standin):
    client = GraceDb(standin.service_url, force_noauth=True)
    gid = new_event(client)
    r = client.write_log(gid, "p_astro computed", filename="p_astro.json", filecontents=PASTRO,
                         tag_name="p_astro")
    assert r.status_code == 201
    entry = r.json()
    assert entry["filename"] == "p_astro.json" and entry["file_version"] == 0
    assert entry["tag_names"] == ["p_astro"]
    two = client.write_log(graceid=gid, message="two tags", tag_name=["em_bright", "sig_info"],
                           displayName=["EM Bright", "Significance"])
    assert two.json()["tag_names"] == ["em_bright", "sig_info"]
    got = client.files(gid, "p_astro.json")
    assert got.status_code == 200 and got.content == PASTRO
    assert client.files(gid, filename="p_astro.json,0").content == PASTRO
    listing = client.files(gid).json()
    assert {"p_astro.json", "p_astro.json,0", "coinc.xml"} <= set(listing)
    comments = [e["comment"] for e in client.logs(gid).json()["log"]]
    assert comments[0] == "Original Data" and "p_astro computed" in comments and "two tags" in comments


def test_a_file_is_read_from_disk_and_binary_bytes_survive(standin, tmp_path):
    client = GraceDb(standin.service_url, force_noauth=True)
    gid = new_event(client)
    blob = bytes(range(256)) * 4
    path = tmp_path / "snr.bin"
    path.write_bytes(blob)
    assert client.write_log(gid, "snr", filename=path).json()["filename"] == "snr.bin"
    assert client.files(gid, "snr.bin").content == blob


def test_labels_are_written_listed_and_removed(standin):
    client = GraceDb(standin.service_url, force_noauth=True)
    gid = new_event(client)
    assert client.write_label(gid, "PASTRO_READY").status_code == 201
    again = client.write_label(gid, "PASTRO_READY")
    assert again.status_code == 200 and "warning" in again.json()
    assert [x["name"] for x in client.labels(gid).json()["labels"]] == ["PASTRO_READY"]
    assert "PASTRO_READY" in client.event(gid).json()["labels"]
    assert client.remove_label(gid, "PASTRO_READY").status_code == 204
    assert client.labels(gid).json()["labels"] == []
    with pytest.raises(HTTPError) as e:
        client.remove_label(gid, "PASTRO_READY")
    assert e.value.status_code == 404


def test_bad_arguments_are_refused_before_sending(standin):
    client = GraceDb(standin.service_url, force_noauth=True)
    gid = new_event(client)
    with pytest.raises(ValueError, match="pastro_ready"):
        client.write_label(gid, "pastro_ready")
    with pytest.raises(TypeError, match="tag_name"):
        client.write_log(gid, "x", tag_name=["ok", 3])
    with pytest.raises(ValueError, match="filename"):
        client.write_log(gid, "x", filecontents=b"bytes")
    with pytest.raises(ValueError, match="reservation_wait"):
        GraceDb(standin.service_url, force_noauth=True, reservation_wait=-1)
    assert client.logs(gid).json()["numRows"] == 1, "nothing reached the server"


@pytest.fixture
def held_back():
    """Kafka and GraceDB without a supervisor: (stand-in, producer)."""
    cluster = MockCluster()
    cluster.create_topic("localhost.gstlal", 1)
    with StandIn() as standin:
        producer = GraceDbKafkaProducer(cluster.bootstrap_servers, service_url=standin.service_url, **PLAIN)
        try:
            yield standin, producer
        finally:
            producer.close()
            gc.collect()


def publish(client, producer):
    r = client.create_event("CBC", "gstlal", "coinc.xml", filecontents=COINC, kafka=producer)
    assert r.status_code == 202
    return r.json()["graceid"]


def upload_as_the_supervisor_does(standin, gid):
    GraceDb(standin.service_url, force_noauth=True).upload_reserved_event(gid, "CBC", "gstlal", "coinc.xml",
                                                                         filecontents=COINC)


def test_a_followup_sent_before_the_upload_succeeds_once_the_event_exists(held_back, capfd):
    standin, producer = held_back
    client = GraceDb(standin.service_url, force_noauth=True)
    gid = publish(client, producer)
    result = {}

    def followups():
        try:
            result["log"] = client.write_log(gid, "p_astro", filename="p_astro.json", filecontents=PASTRO,
                                             tag_name="p_astro")
            result["label"] = client.write_label(gid, "PASTRO_READY")
        except BaseException as e:  # noqa: B036 -- reported by the main thread
            result["error"] = e

    set_log_level("info")
    try:
        thread = threading.Thread(target=followups)
        thread.start()
        seen = []
        # The library logs (standard error) when a follow-up meets the missing event and starts waiting.
        wait_until(lambda: seen.append(capfd.readouterr().err) or
                   f"{gid} is not in GraceDB yet" in "".join(seen), what="write_log waiting for the event")
        assert standin.event(gid) is None, "nobody uploaded it yet"
        upload_as_the_supervisor_does(standin, gid)
        thread.join(60)
        assert not thread.is_alive()
    finally:
        set_log_level("warning")
    assert "error" not in result, result.get("error")
    assert result["log"].status_code == 201 and result["log"].timings["reservation_wait"] > 0
    assert result["label"].status_code == 201 and "reservation_wait" not in result["label"].timings
    assert client.files(gid, "p_astro.json").content == PASTRO
    assert [x["name"] for x in client.labels(gid).json()["labels"]] == ["PASTRO_READY"]
    assert sum(e["comment"] == "p_astro" for e in client.logs(gid).json()["log"]) == 1


def test_a_graceid_this_client_did_not_publish_fails_at_once(held_back):
    standin, _ = held_back
    client = GraceDb(standin.service_url, force_noauth=True, reservation_wait=3600)
    reserved = client.reserve_graceid("CBC", "gstlal").json()["graceid"]
    with pytest.raises(HTTPError) as e:
        client.write_log(reserved, "too early")
    assert not isinstance(e.value, EventNotUploadedError)
    assert e.value.status_code == 404 and e.value.text == "Event not found."


def test_the_bound_ends_in_a_typed_error_naming_the_graceid(held_back):
    standin, producer = held_back
    client = GraceDb(standin.service_url, force_noauth=True, reservation_wait=0.3)
    gid = publish(client, producer)
    with pytest.raises(EventNotUploadedError) as e:
        client.write_label(gid, "PASTRO_READY")
    assert isinstance(e.value, HTTPError) and e.value.status_code == 404
    assert e.value.graceid == gid and e.value.waited >= 0.3
    assert gid in str(e.value) and "reservation_wait" in str(e.value)
    upload_as_the_supervisor_does(standin, gid)
    assert client.labels(gid).json()["labels"] == [], "the refused attempts created nothing"
