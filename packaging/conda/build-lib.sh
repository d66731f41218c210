#!/bin/bash
# libgracedb: the three libraries, headers, CMake package, pkg-config files and the tool, under $PREFIX.
set -euxo pipefail
cmake -S . -B build-conda ${CMAKE_ARGS} -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
  -DCMAKE_INSTALL_LIBDIR=lib -DGRACEDB_BUILD_PYTHON=OFF -DGRACEDB_BUILD_TESTS=OFF \
  -DGRACEDB_BUILD_EXAMPLES=OFF -DGRACEDB_BUILD_BENCH=OFF -DGRACEDB_SYSTEMD_UNIT_DIR=share/gracedb-cpp/systemd
cmake --build build-conda -j "${CPU_COUNT}"
for c in runtime supervisor testing dev tool; do cmake --install build-conda --component "$c"; done
