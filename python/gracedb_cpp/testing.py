"""Test helpers (gracedb::testing): the embedded sandbox, the GraceDB stand-in, the mock cluster, test tokens.

As a pytest plugin (found by pytest by itself when the package is installed with pip: its ``pytest11`` entry
point; otherwise ``pytest_plugins = ["gracedb_cpp.testing"]`` in a conftest.py) it provides the fixtures

* ``gracedb_sandbox`` (session): a Sandbox -- Kafka (librdkafka's mock cluster, plaintext), the GraceDB stand-in
  and a supervisor that uploads what is published, all in this process::

      def test_my_pipeline(gracedb_sandbox):
          sb = gracedb_sandbox
          producer = GraceDbKafkaProducer(sb.bootstrap_servers, service_url=sb.service_url, **sb.kafka_config)
          GraceDb(sb.service_url).create_event("CBC", "gstlal", "coinc.xml", kafka=producer)

* ``gracedb_standin`` (per test): a StandIn alone, for code that only talks HTTP.

The sandbox fixture fails the test session's last test that used it when its supervisor thread failed.
"""

from ._testing import MockCluster, Sandbox, StandIn, jwks_for, make_signing_key, mint_token, now_seconds

__all__ = ["Sandbox", "StandIn", "MockCluster", "make_signing_key", "mint_token", "jwks_for", "now_seconds"]

try:
    import pytest
except ImportError:  # the helpers work without pytest; only the fixtures need it
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def gracedb_sandbox():
        """A Sandbox for the whole test session."""
        with Sandbox() as sandbox:
            yield sandbox
            if sandbox.failure:
                pytest.fail(f"the sandbox's supervisor failed: {sandbox.failure}")

    @pytest.fixture
    def gracedb_standin():
        """A GraceDB stand-in (no authentication) for one test."""
        with StandIn() as standin:
            yield standin
