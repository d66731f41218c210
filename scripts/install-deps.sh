#!/usr/bin/env bash
# Installs everything gracedb-cpp needs on a fresh Debian 12 (bookworm) machine, idempotently:
#   - the C++ toolchain's libraries, from Debian's packages only;
#   - kcat (independent Kafka client used by the tests);
#   - Apache Kafka's jars for the test broker, resolved by Maven from tests/rig/pom.xml into ~/.m2.
# Usage: scripts/install-deps.sh [--no-broker]      (--no-broker: skip the Maven step, e.g. for the demo)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
  build-essential cmake pkg-config
  ccache                  # the package tests rebuild the project next to the build folder: cache hits
  librdkafka-dev          # Kafka client (C)
  libcurl4-openssl-dev    # HTTP client
  libssl-dev              # TLS, JWT signatures
  nlohmann-json3-dev      # the API's JSON type
  rapidjson-dev           # fast JSON serialisation
  libcpp-httplib-dev      # small HTTP servers (GraceDB stand-in)
  libcli11-dev            # command line
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libjwt-dev              # minting and verifying test SciTokens
  doxygen                 # the API reference (docs/: target docs) and its test docs.api_reference
  libsqlite3-dev          # the publisher's crash-safe outbox (journal, fsync'd)
  prometheus-cpp-dev      # the supervisor's Prometheus metrics (core registry and text format)
  kafkacat                # kcat, an independent Kafka client for tests
  python3 python3-confluent-kafka  # the Python anchor of the benchmarks
  openssl                 # test CA and keys for the broker rig
  curl                    # HTTP checks of the GraceDB stand-in in tests
  pybind11-dev python3-pybind11 python3-dev python3-pytest  # the Python package gracedb_cpp and its tests
  python3-certifi         # the specification's Python examples (certifi.where()), run by the Python tests
  help2man man-db         # the man page gracedb-kafka.1 from the tool's --help (packaging/), and its test
  systemd                 # systemd-analyze verify, the test of the supervisor's unit (packaging/systemd/)
  clang libclang-rt-14-dev   # libFuzzer targets and ThreadSanitizer (GCC's TSan misses librdkafka's C11 threads)
  python3-pip python3-venv  # pip install/wheel of pyproject.toml; the wheel test's fresh virtual environment
  dpkg-dev file           # cpack -G DEB: dpkg-shlibdeps fills in the Debian packages' Depends
)
# From bookworm-backports (bookworm's own is too old for pyproject.toml): scikit-build-core, the build backend
# of `pip install --no-build-isolation .`.
backports=(python3-scikit-build-core)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for p in "${backports[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p/bookworm-backports")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  if ! grep -rqs '^Suites:.*bookworm-backports' /etc/apt/sources.list.d/ \
     && ! grep -qs '^deb .* bookworm-backports ' /etc/apt/sources.list; then
    echo "install-deps: adding Debian's bookworm-backports (/etc/apt/sources.list.d/backports.sources)"
    printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" "Suites: bookworm-backports" \
      "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
      | $SUDO tee /etc/apt/sources.list.d/backports.sources > /dev/null
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" != "--no-broker" ]; then
  command -v java >/dev/null || { echo "install-deps: java (17) is needed for the test broker" >&2; exit 1; }
  command -v mvn >/dev/null || { echo "install-deps: mvn is needed to resolve the test broker" >&2; exit 1; }
  echo "install-deps: resolving Apache Kafka (tests/rig/pom.xml) with Maven"
  mvn -q -B -f "$here/tests/rig/pom.xml" dependency:resolve -DincludeScope=runtime > /dev/null
fi
echo "install-deps: done"
