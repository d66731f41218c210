#!/usr/bin/env bash
# The main job: the whole create-event flow on the embedded sandbox, from a clean clone on a fresh machine.
# Submits a real gstlal coinc from ../shared/data/events when that folder is there, else the project's sample.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GRACEDB_BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh" --no-broker >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
cmake --build "$build" -j "$(nproc)" --target gracedb-kafka >&2
event=$root/../shared/data/events/coinc.xml
if [ -f "$event" ]; then
  exec "$build/apps/gracedb-kafka" demo --event-file "$event" "$@"
fi
echo "demo.sh: ../shared/data/events is not there; the demo submits the project's own sample event" >&2
exec "$build/apps/gracedb-kafka" demo "$@"
