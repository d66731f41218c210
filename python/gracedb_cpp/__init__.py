"""gracedb-cpp for Python: the API of ligo-gracedb's Kafka integration, on the C++ library.

    from gracedb_cpp.kafka import GraceDbKafkaProducer, GraceDbKafkaConsumer
    from gracedb_cpp.rest import GraceDb

Only the import changes from ``ligo.gracedb``. ``gracedb_cpp.testing`` holds the embedded sandbox (Kafka and
GraceDB in one process) and the GraceDB stand-in, for tests.
"""

from ._core import __version__, log_level, set_log_level

__all__ = ["__version__", "log_level", "set_log_level"]
