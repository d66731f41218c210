#!/usr/bin/env bash
# Writes gracedb-kafka's man page from its own --help texts with help2man, so that the page never drifts
# from the tool: help2man reads the top-level --help; every sub-command's --help (nested ones too) goes into
# a "SUB-COMMANDS" section through help2man's --include.
# Usage: make-man-page.sh TOOL OUTPUT.1 VERSION
set -euo pipefail
tool=$1 out=$2 version=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Run it by its name, found on PATH: its usage lines say "gracedb-kafka", not the build tree's path.
tool_dir=$(cd "$(dirname "$tool")" && pwd)
export PATH="$tool_dir:$PATH"
tool=$(basename "$tool")
include="$out.include"

# roff: a backslash is \e; a line starting with . or ' would be a request: \& keeps it text.
roff_text() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/"; }

{
    echo "[SUB-COMMANDS]"
    echo "Each sub-command has its own options;"
    echo "\\fBgracedb-kafka\\fR \\fISUB-COMMAND\\fR \\fB--help\\fR prints them."
    while IFS= read -r sub; do
        # shellcheck disable=SC2086 # "deadletters list" is two words on purpose
        help=$("$tool" $sub --help)
        echo ".SS \"gracedb-kafka $sub\""
        echo ".nf"
        roff_text <<<"$help"
        echo ".fi"
    done < <("$here/subcommands.sh" "$tool")
    cat <<'ROFF'
[ENVIRONMENT]
Options marked \fB(Env:\fR\fINAME\fR\fB)\fR above may be given in the environment instead.
.TP
.B BEARER_TOKEN_FILE
the SciToken file (see \fBgracedb\-kafka token \-\-help\fR for where a token is looked for).
.TP
.B GRACEDB_LOG_LEVEL
debug, info, warning, error or off.
[SEE ALSO]
The supervisor as a systemd service: \fIgracedb-supervisor.service\fR and its environment file
(share/doc/gracedb-cpp/examples/gracedb-supervisor.env). README.md of gracedb-cpp.
ROFF
} > "$include"

help2man --no-info --section=1 --version-string="$version" \
    --name="publish and consume GraceDB events over Apache Kafka" \
    --include="$include" --output="$out" "$tool"
rm -f "$include"
