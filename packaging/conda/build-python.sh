#!/bin/bash
# gracedb-cpp (Python): pyproject.toml through scikit-build-core, as pip builds it: the package carries its
# own copy of the three libraries next to its modules (RPATH $ORIGIN); see README.md for sharing libgracedb's.
set -euxo pipefail
"$PYTHON" -m pip install . --no-deps --no-build-isolation -vv
