#!/usr/bin/env bash
# systemd-analyze verify on unit files: fails on a non-zero exit status and on any line it prints about one
# of them (systemd ignores a bad setting with a warning and still exits 0).
# Usage: verify-unit.sh UNIT-FILE...
set -uo pipefail
if ! command -v systemd-analyze >/dev/null; then
    echo "FAIL: systemd-analyze (package systemd) is missing"
    exit 1
fi
patterns=()
for unit in "$@"; do
    [ -f "$unit" ] || { echo "FAIL: no unit file $unit"; exit 1; }
    patterns+=(-e "$(basename "$unit")")
done
# GRACEDB_VERIFY_MAN=no: do not check that the Documentation= man pages exist (none built).
out=$(systemd-analyze verify --man="${GRACEDB_VERIFY_MAN:-yes}" "$@" 2>&1)
rc=$?
# Lines that name one of the units; complaints about other units (the host's own) are not ours.
ours=$(grep -F "${patterns[@]}" <<<"$out" || true)
if [ $rc -ne 0 ] || [ -n "$ours" ]; then
    echo "unit rejected: systemd-analyze verify exited $rc"
    echo "$out"
    exit 1
fi
echo "ok: verified $*"
