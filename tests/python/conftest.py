"""Fixtures of the Python tests: the embedded sandbox, the real broker of the test rig, SciTokens.

CTest runs these with PYTHONPATH pointing at the built package (build/python) and, for the rig tests, with
$GRACEDB_RIG_ENV naming the rig.env file that tests/rig/kafka-rig.sh wrote.
"""

import base64
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import uuid

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PROJECT = HERE.parent.parent

# A package installed by pip registers the plugin itself (entry point); GRACEDB_PYTEST_PLUGIN="": rely on it.
pytest_plugins = [p for p in [os.environ.get("GRACEDB_PYTEST_PLUGIN", "gracedb_cpp.testing")] if p]


def unique(stem):
    """A fresh name for a topic or group."""
    return f"{stem}-{uuid.uuid4().hex[:12]}"


def wait_until(predicate, timeout=30.0, interval=0.05, what="the condition"):
    """Waits for `predicate()` to be true (never a bare sleep); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"{what} did not happen within {timeout} s")


@pytest.fixture
def event_dir(monkeypatch):
    """A folder holding coinc.xml, made the current directory: the spec's examples open "coinc.xml".
    The shared pipeline data when present (read in place), else the project's own sample."""
    shared = pathlib.Path(os.environ.get("GRACEDB_SHARED_DATA_DIR", PROJECT.parent / "shared" / "data"))
    events = shared / "events"
    if (events / "coinc.xml").is_file():
        monkeypatch.chdir(events)
        return events
    print(f"\n*** shared test data not found at {events}: using examples/data/sample-coinc.xml ***")
    monkeypatch.chdir(PROJECT / "examples" / "data")
    (pathlib.Path.cwd() / "coinc.xml").exists() or pytest.fail("examples/data has no coinc.xml")
    return pathlib.Path.cwd()


def fake_token(sub="pytest", aud="kafka.example.org", scope="kafka.produce", lifetime=600):
    """An unsigned JWT with the claims discovery looks at (the client never checks signatures)."""
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    now = int(time.time())
    claims = {"iss": "https://issuer.example.org", "sub": sub, "aud": aud, "scope": scope,
              "iat": now - 60, "exp": now + lifetime, "ver": "scitoken:2.0"}
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJl"


@pytest.fixture
def token_dir(tmp_path, monkeypatch):
    """WLCG discovery pointed at a private folder: $BEARER_TOKEN unset, $BEARER_TOKEN_FILE=<dir>/token."""
    monkeypatch.delenv("BEARER_TOKEN", raising=False)
    monkeypatch.setenv("BEARER_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def write_secret(path, text):
    tmp = pathlib.Path(str(path) + ".new")
    tmp.write_text(text + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


class Rig:
    """The real Kafka broker of the test rig (SASL_SSL + OAUTHBEARER), from rig.env."""

    def __init__(self, env_file):
        values = {}
        for line in pathlib.Path(env_file).read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                values[k] = v
        self.sasl_bootstrap = values["RIG_SASL_BOOTSTRAP"]
        self.plain_bootstrap = values["RIG_PLAIN_BOOTSTRAP"]
        self.ca_file = values["RIG_CA"]
        self.issuer = values["RIG_ISSUER"]
        self.audience = values["RIG_AUDIENCE"]
        self.key_file = values["RIG_KEY"]
        self.kid = values["RIG_KID"]
        self.rig_tool = values["RIG_TOOL"]

    def mint(self, path, lifetime=600, sub="pipeline", scope="kafka.produce kafka.consume gracedb.read",
             aud=None):
        """Mints a token signed by the rig's issuer into `path` (mode 0600) with `rig-tool mint`."""
        subprocess.run([self.rig_tool, "mint", "--key", self.key_file, "--kid", self.kid, "--iss", self.issuer,
                        "--aud", aud or self.audience, "--sub", sub, "--scope", scope,
                        "--lifetime", str(lifetime), "--out", str(path)], check=True)


@pytest.fixture(scope="session")
def rig():
    env = os.environ.get("GRACEDB_RIG_ENV")
    if not env:
        pytest.fail("GRACEDB_RIG_ENV is not set: these tests need the real Kafka broker of the test rig. Run them "
                    "through ctest (its fixture starts the broker: ctest -L python), or start it with "
                    "tests/rig/kafka-rig.sh start <dir> and export GRACEDB_RIG_ENV=<dir>/rig.env")
    if not pathlib.Path(env).is_file():
        pytest.fail(f"the rig's file {env} is missing: did the broker fixture (rig_start) fail? See its log.")
    return Rig(env)


@pytest.fixture
def rig_token(rig, token_dir):
    """A 10-minute token of the rig's issuer where discovery finds it; returns the token file."""
    path = token_dir / "token"
    rig.mint(path)
    return path


class SigintWhen:
    """Sends SIGINT to this process, as Ctrl-C does, from a helper thread once `ready()` holds."""

    def __init__(self, ready, timeout=60.0):
        self.sent = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready, timeout), daemon=True)
        self._thread.start()

    def _run(self, ready, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ready():
            time.sleep(0.02)
        self.sent.set()
        os.kill(os.getpid(), signal.SIGINT)

    def join(self):
        self._thread.join(timeout=70)


@pytest.fixture
def sigint_when():
    return SigintWhen
