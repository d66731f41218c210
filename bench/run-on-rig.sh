#!/usr/bin/env bash
# Runs the Kafka benchmarks against the real broker of the test rig (SASL_SSL + OAUTHBEARER):
# starts a broker, mints a token for it, runs bench_producer, bench_consumer, bench_create_event and
# bench_supervisor, stops the broker.
#   bench/run-on-rig.sh [build dir] [extra arguments for both benchmarks]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}; shift || true
dir=$build/rig/bench-broker
export RIG_TOOL=$build/tests/rig-tool KAFKA_LIBS=$build/rig/kafka-libs
"$root/tests/rig/kafka-rig.sh" start "$dir"
trap '"$root/tests/rig/kafka-rig.sh" stop "$dir"' EXIT
# shellcheck disable=SC1091
. "$dir/rig.env"
export BEARER_TOKEN_FILE=$dir/bench-token
"$RIG_TOOL" mint --key "$RIG_KEY" --kid "$RIG_KID" --iss "$RIG_ISSUER" --aud "$RIG_AUDIENCE" --sub pipeline \
    --scope "kafka.produce kafka.consume" --lifetime 7200 --out "$BEARER_TOKEN_FILE"
"$build/bench/bench_producer" --bootstrap "$RIG_SASL_BOOTSTRAP" --ca "$RIG_CA" --instance rig "$@"
"$build/bench/bench_consumer" --bootstrap "$RIG_SASL_BOOTSTRAP" --ca "$RIG_CA" --instance rig "$@"
"$build/bench/bench_create_event" --bootstrap "$RIG_SASL_BOOTSTRAP" --ca "$RIG_CA" --data "$root/../shared/data"
"$build/bench/bench_supervisor" --bootstrap "$RIG_SASL_BOOTSTRAP" --ca "$RIG_CA" --admin "$RIG_PLAIN_BOOTSTRAP"
