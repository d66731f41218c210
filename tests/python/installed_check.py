"""The installed package (cmake --install), used as a user does: put <prefix>/lib/python3/dist-packages on
PYTHONPATH, import, publish an event on the embedded sandbox, read it back. Argument: the install prefix."""

import pathlib
import sys

prefix = pathlib.Path(sys.argv[1]).resolve()

import gracedb_cpp  # noqa: E402
from gracedb_cpp import _core, _testing  # noqa: E402
from gracedb_cpp.kafka import GraceDbKafkaProducer  # noqa: E402
from gracedb_cpp.rest import GraceDb  # noqa: E402
from gracedb_cpp.testing import Sandbox  # noqa: E402

for module in (gracedb_cpp, _core, _testing):
    where = pathlib.Path(module.__file__).resolve()
    assert prefix in where.parents, f"{module.__name__} comes from {where}, not from the installed prefix {prefix}"

with Sandbox() as sb:
    client = GraceDb(sb.service_url, api_version="v2")
    with GraceDbKafkaProducer(sb.bootstrap_servers, service_url=sb.service_url, **sb.kafka_config) as producer:
        response = client.create_event("CBC", "gstlal", "coinc.xml", filecontents=b"<LIGO_LW/>", kafka=producer)
    graceid = response.json()["graceid"]
    assert graceid.startswith("G"), response.text
print(f"installed gracedb_cpp {gracedb_cpp.__version__} from {prefix}: published {graceid}")
