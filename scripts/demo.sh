#!/usr/bin/env bash
# The main job: the whole create-event flow on the embedded sandbox, from a clean clone on a fresh machine.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GRACEDB_BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh" --no-broker >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
cmake --build "$build" -j "$(nproc)" --target gracedb-kafka >&2
exec "$build/apps/gracedb-kafka" demo "$@"
