#!/bin/sh
# Builds the API reference with Doxygen into OUT and fails on any warning (each printed).
# Usage: check-api-docs.sh DOXYGEN DOXYFILE OUT [EXTRA_HEADER]
# EXTRA_HEADER (for the test of this check) is added to the input: one undocumented name must fail it.
set -eu
doxygen=$1 doxyfile=$2 out=$3 extra=${4:-}
rm -rf "$out"
mkdir -p "$out"
{
    cat "$doxyfile"
    echo "OUTPUT_DIRECTORY = $out"
    echo "WARN_LOGFILE = $out/warnings.log"
    if [ -n "$extra" ]; then
        cp "$extra" "$out/undocumented.hpp"
        echo "INPUT += $out/undocumented.hpp"
    fi
} > "$out/Doxyfile"
status=0
"$doxygen" "$out/Doxyfile" > "$out/doxygen.out" 2>&1 || status=$?
if [ -s "$out/warnings.log" ]; then
    sed 's/^/warning: /' "$out/warnings.log"
    echo "FAILED: $(wc -l < "$out/warnings.log") warning line(s) above: document every public name in" \
         "include/gracedb (a /// comment before it, or ///< after it)"
    exit 1
fi
if [ "$status" -ne 0 ]; then
    cat "$out/doxygen.out"
    echo "FAILED: doxygen exited with status $status"
    exit 1
fi
[ -f "$out/html/index.html" ] || { echo "FAILED: no $out/html/index.html"; exit 1; }
echo "API reference built with no warning: $out/html/index.html"
