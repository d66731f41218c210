#!/usr/bin/env bash
# `gracedb-kafka supervise` takes every option of the unit's environment file from the environment: each
# variable the example file names (set or commented out) is one the tool's --help lists as "Env:", except
# the two the unit itself uses (BEARER_TOKEN_FILE, read by the library; GRACEDB_SUPERVISOR_ARGS, appended to
# the command line). And supervise's own options all have an environment name.
# Usage: supervise-env.sh TOOL ENV-FILE
set -euo pipefail
tool=$1 env_file=$2
help=$("$tool" supervise --help; "$tool" --help)
status=0
names=$(sed -n 's/^#\{0,1\}\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$env_file" | sort -u)
[ -n "$names" ] || { echo "FAIL: no NAME=value in $env_file"; exit 1; }
for name in $names; do
    case $name in BEARER_TOKEN_FILE | GRACEDB_SUPERVISOR_ARGS) continue ;; esac
    if grep -q "(Env:$name)" <<<"$help"; then
        echo "ok: $name"
    else
        echo "FAIL: $name is not read by supervise"
        status=1
    fi
done
for name in GRACEDB_SUPERVISOR_GROUP_ID GRACEDB_SUPERVISOR_DEAD_LETTER_PREFIX GRACEDB_SUPERVISOR_NO_AUTH \
            GRACEDB_SUPERVISOR_METRICS GRACEDB_CA_CERT; do
    grep -q "^#\{0,1\}$name=" "$env_file" || { echo "FAIL: $env_file does not show $name"; status=1; }
done
# And supervise parses them: a value --no-auth cannot take, given only in the environment, is refused.
if out=$(GRACEDB_SUPERVISOR_NO_AUTH=maybe "$tool" supervise 2>&1); then
    echo "FAIL: supervise ran with GRACEDB_SUPERVISOR_NO_AUTH=maybe"; status=1
elif ! grep -q -- "--no-auth" <<<"$out"; then
    echo "FAIL: GRACEDB_SUPERVISOR_NO_AUTH=maybe was not read: $out"; status=1
fi
# Set lines: systemd's syntax (NAME=value, no export, no spaces around =).
if grep -Ev '^(#.*|[A-Z][A-Z0-9_]*=[^ ].*|)$' "$env_file"; then
    echo "FAIL: the lines above are not NAME=value"; status=1
fi
exit $status
