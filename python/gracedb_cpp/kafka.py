"""The Kafka part: GraceDbKafkaProducer, GraceDbKafkaConsumer, SciToken helpers, topic utilities, exceptions.

The same names, keyword arguments, defaults and return shapes as ``ligo.gracedb.kafka``. librdkafka settings
go in ``**kafka_config`` with their dotted names, e.g. ``GraceDbKafkaProducer(..., **{"linger.ms": 5})``.

Exceptions::

    KafkaError (Exception)
    +-- KafkaAuthenticationError
    |   +-- KafkaTokenError
    +-- KafkaProducerError
    |   +-- KafkaMessageDeliveryError
    |       +-- KafkaUnfinishedEventError  (create_event: .graceid reserved, not finished; .may_still_be_delivered)
    +-- KafkaConsumerError
    +-- KafkaConnectionError

Bad arguments raise ValueError (or TypeError for a wrong type).
"""

import signal
import threading

from ._core import (
    DeliveredMessage,
    GraceDbKafkaProducer,
    KafkaAuthenticationError,
    KafkaConnectionError,
    KafkaConsumerError,
    KafkaError,
    KafkaMessageDeliveryError,
    KafkaProducerError,
    KafkaTokenError,
    KafkaUnfinishedEventError,
    OAuthCallback,
    SciTokenRefreshManager,
    _GraceDbKafkaConsumer,
    create_oauth_callback,
    derive_instance_name,
    get_scitoken_for_kafka,
    make_topic_name,
    parse_topic_name,
)

__all__ = [
    "GraceDbKafkaProducer",
    "GraceDbKafkaConsumer",
    "DeliveredMessage",
    "derive_instance_name",
    "make_topic_name",
    "parse_topic_name",
    "get_scitoken_for_kafka",
    "create_oauth_callback",
    "OAuthCallback",
    "SciTokenRefreshManager",
    "KafkaError",
    "KafkaAuthenticationError",
    "KafkaTokenError",
    "KafkaProducerError",
    "KafkaMessageDeliveryError",
    "KafkaUnfinishedEventError",
    "KafkaConsumerError",
    "KafkaConnectionError",
]


class GraceDbKafkaConsumer(_GraceDbKafkaConsumer):
    """Kafka consumer with SciToken authentication for GraceDB events (gracedb::kafka::Consumer).

    GraceDbKafkaConsumer(bootstrap_servers, topics=None, instance_name=None, service_url=None, group_id=None,
    use_ssl=True, ca_cert_path=None, skip_hostname_verification=False, token_scope='kafka.consume',
    token_audience=None, reload_cred=True, reload_buffer=300, auto_refresh_token=None,
    auto_offset_reset='latest', since_gps=None, until_gps=None, **kafka_config)

    ``since_gps`` (GPS seconds) starts every partition at its first message stamped at or after it;
    ``until_gps`` ends the window (exclusive): once every partition reached it, ``replay_finished`` is True,
    poll() returns None at once and stream() ends.

    Messages are dicts: topic, partition, offset, key, value, timestamp, headers. ``value`` is the parsed JSON
    when the message is JSON (a dict for what produce(dict) sent), else a str when it is UTF-8 text, else
    bytes; ``timestamp`` is milliseconds since the epoch (None when the broker gave none); ``headers`` a dict.
    """

    def stream(self, timeout=1.0, count=None):
        """Generator of message dicts (as poll()), until `count` messages, stop(), or SIGINT/SIGTERM.

        In the main thread it installs handlers for SIGINT and SIGTERM while it runs, so that the first signal
        ends the loop cleanly (within a tenth of a second); the previous handlers are restored when the
        generator exits. From another thread, end it with stop().
        """
        if count is not None and count < 0:
            raise ValueError("count must be None or a number of messages >= 0")
        self._reset_stop()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, self._on_signal)
        try:
            yielded = 0
            while count is None or yielded < count:
                if self._stop_requested:
                    return
                msg = self._stream_poll(timeout)
                if msg is None:
                    if self.replay_finished:
                        return
                    continue
                yield msg
                yielded += 1
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def _on_signal(self, signum, frame):
        self.stop()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
