"""The REST part: GraceDb with create_event over Kafka (reserve over HTTP, publish over Kafka, HTTP fallback).

    client = GraceDb('https://gracedb-test.ligo.org/api/', api_version='v2')
    response = client.create_event("CBC", "gstlal", "coinc.xml", search="AllSky", kafka=producer)
    response.json()["graceid"]; response.status_code; response.timings

Errors: HTTPError (a 4xx/5xx answer: .status_code, .text, .response), TransportError (no answer; also a
ConnectionError), CredentialError, all GraceDbError; Kafka failures raise the Kafka exceptions.

Once create_event has reserved a graceid it ends in exactly one of: published (202), completed over HTTP
(http_fallback: 201, or 200 when the Kafka copy was uploaded first), or KafkaUnfinishedEventError naming the
graceid. Finish that same event, never a new one (the message may still be delivered)::

    try:
        client.create_event("CBC", "gstlal", "coinc.xml", kafka=producer)
    except KafkaUnfinishedEventError as e:      # e.graceid, e.may_still_be_delivered, e.retriable
        client.upload_reserved_event(e.graceid, "CBC", "gstlal", "coinc.xml")   # idempotent; 409: done

Follow-ups, with ligo-gracedb 2.x's names: write_log(graceid, message, filename=None, filecontents=None,
tag_name=None, displayName=None), logs(graceid), write_label(graceid, label), remove_label(graceid, label),
labels(graceid), files(graceid, filename="") (with a name: the bytes as .content; without: the list). Right
after create_event over Kafka the event exists only once the supervisor uploaded it: a follow-up on a graceid
this client published waits for it (retrying GraceDB's 404 "Event not found.") for up to reservation_wait
seconds (default 60), then raises EventNotUploadedError (an HTTPError; .graceid, .waited). Other graceids are
never waited for. See docs/followups.md.
"""

from ._core import CredentialError, EventNotUploadedError, GraceDbError, HTTPError, Response, TransportError
from ._core import GraceDb as _GraceDb
from .kafka import GraceDbKafkaProducer

__all__ = ["GraceDb", "Response", "GraceDbError", "HTTPError", "EventNotUploadedError", "TransportError",
           "CredentialError"]


class GraceDb(_GraceDb):
    """The GraceDB REST client (gracedb::GraceDb).

    GraceDb(service_url='https://gracedb.ligo.org/api/', cred=None, force_noauth=False, fail_if_noauth=False,
    api_version=None, reload_cred=True, reload_buffer=300, token_scope='gracedb.read', token_audience=None,
    ca_cert_path=None, verify_tls=True, timeout=30, retries=3, backoff_factor=0.5, user_agent=None,
    reservation_wait=60, outbox=None, resume_outbox_on_start=True)

    ``outbox`` names a directory for the crash-safe outbox (docs/outbox.md): each create_event over Kafka is
    journaled there before its graceid is reserved, and ``resume_outbox()`` (also run at construction unless
    ``resume_outbox_on_start=False``) completes what a crashed process left unfinished.
    ``cred`` is an X.509 (certificate, key) pair or one file holding both; without it a SciToken is found by
    WLCG discovery (audience ``https://<host>``), and requests go without credentials when there is none.
    """

    def create_kafka_producer(self, bootstrap_servers, **kwargs):
        """A GraceDbKafkaProducer for this GraceDB instance: its service URL namespaces the topics unless
        instance_name or service_url is given (gracedb::GraceDb::create_kafka_producer). Takes
        GraceDbKafkaProducer's keyword arguments."""
        return GraceDbKafkaProducer(bootstrap_servers, _client=self, **kwargs)
