#!/usr/bin/env bash
# The man page lists every sub-command the tool has: the list comes from the tool's own --help
# (man/subcommands.sh), each must have its section ("gracedb-kafka <sub>") in the rendered page.
# Usage: man-page.sh TOOL PAGE.1 [EXTRA-NAME...]   (extra names: expected too; the self-test gives one that
#                                                    cannot be there, and expects this script to say so)
set -euo pipefail
tool=$1 page=$2; shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ ! -s "$page" ]; then
    echo "FAIL: no man page at $page (is help2man installed? see the CMake warning)"
    exit 1
fi
if command -v man >/dev/null; then
    text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
else
    echo "WARNING: WARNING: 'man' (package man-db) is missing:"
    echo "WARNING: WARNING: checking the roff source, not the rendered page"
    text=$(sed -e 's/\\-/-/g' -e 's/^\.SS "\(.*\)"$/   \1/' "$page")
fi
[ -n "$text" ] || { echo "FAIL: $page renders to nothing"; exit 1; }

mapfile -t subs < <("$here/man/subcommands.sh" "$tool")
[ "${#subs[@]}" -gt 0 ] || { echo "FAIL: '$tool --help' lists no sub-command"; exit 1; }
missing=0
for sub in "${subs[@]}" "$@"; do
    # The section heading: a line holding exactly "gracedb-kafka <sub>" (not a mention in a sentence).
    if grep -Eq "^ *gracedb-kafka $sub *\$" <<<"$text"; then
        echo "ok: gracedb-kafka $sub"
    else
        echo "missing: gracedb-kafka $sub has no section in $page"
        missing=1
    fi
done
exit $missing
