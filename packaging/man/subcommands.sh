#!/usr/bin/env bash
# Prints the sub-commands of gracedb-kafka, one per line, as its own --help lists them ("deadletters list"
# for a nested one): the one list both the man page (make-man-page.sh) and its test (tests/man-page.sh) use.
# Usage: subcommands.sh TOOL
set -euo pipefail
tool=$1

# The names under the "Subcommands:" heading of CLI11's help text.
names() {
    awk '/^[A-Za-z]+:$/ { in_subs = ($0 == "Subcommands:"); next }
         in_subs && /^  [a-z]/ { print $1 }' <<<"$1"
}

top=$("$tool" --help)
subs=$(names "$top")
[ -n "$subs" ] || { echo "subcommands.sh: no \"Subcommands:\" list in '$tool --help'" >&2; exit 1; }
for sub in $subs; do
    echo "$sub"
    for nested in $(names "$("$tool" "$sub" --help)"); do echo "$sub $nested"; done
done
