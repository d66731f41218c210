#!/usr/bin/env bash
# The Python package as pip users meet it (issue 24): `pip wheel --no-build-isolation` of the source tree with
# Debian's python3 (scikit-build-core, pyproject.toml), the wheel installed into a fresh virtual environment,
# then, from there (nothing on PYTHONPATH, not the build tree):
#  - pytest finds the gracedb_sandbox fixture through the wheel's pytest11 entry point alone;
#  - the specification's Python examples (tests/python/test_spec_examples.py) pass.
# The venv has --system-site-packages for certifi and pytest (Debian's; there is no PyPI here); the test
# checks that gracedb_cpp itself comes from the venv.
# Usage: wheel-venv.sh <source dir> <CMake build dir for the wheel> <work dir> <build type> <werror ON|OFF>
#                      [compiler launcher]
set -euo pipefail
src=$1 wheel_build=$2 work=$3 type=$4 werror=$5 launcher=${6:-}
python=/usr/bin/python3
fail() { echo "wheel-venv: FAILED: $*" >&2; exit 1; }
t0=$(date +%s)
step() { echo "wheel-venv: $* ($(( $(date +%s) - t0 )) s)"; }

rm -rf "$work" && mkdir -p "$work/dist" "$work/run"
settings=(--config-settings=build-dir="$wheel_build" --config-settings=cmake.build-type="$type"
          --config-settings=cmake.define.GRACEDB_WARNINGS_AS_ERRORS="$werror")
if [ -n "$launcher" ]; then
  settings+=(--config-settings=cmake.define.CMAKE_CXX_COMPILER_LAUNCHER="$launcher"
             --config-settings=cmake.define.CMAKE_C_COMPILER_LAUNCHER="$launcher")
fi
# Makefiles, as the build folder of the suite: the same compiler working directories, so ccache's hits.
CMAKE_GENERATOR="Unix Makefiles" CMAKE_BUILD_PARALLEL_LEVEL=${GRACEDB_PACKAGE_BUILD_JOBS:-$(nproc)} \
  "$python" -m pip wheel --no-build-isolation --no-deps --no-index -w "$work/dist" "${settings[@]}" "$src" \
  > "$work/wheel.log" 2>&1 || { tail -60 "$work/wheel.log"; fail "pip wheel"; }
wheel=$(ls "$work"/dist/gracedb_cpp-*.whl) || fail "no wheel in $work/dist"
step "built $(basename "$wheel")"

# What the wheel holds: the package, its two modules, the three libraries by soname; nothing else of ours.
listing=$("$python" -m zipfile -l "$wheel" | awk 'NR>1 {print $1}')
for f in gracedb_cpp/__init__.py gracedb_cpp/kafka.py gracedb_cpp/testing.py gracedb_cpp/libgracedb.so.0 \
         gracedb_cpp/libgracedb_supervisor.so.0 gracedb_cpp/libgracedb_testing.so.0; do
  echo "$listing" | grep -qx "$f" || fail "the wheel lacks $f: $listing"
done
echo "$listing" | grep -qE '^gracedb_cpp/_core\..*\.so$' || fail "the wheel lacks _core: $listing"
! echo "$listing" | grep -E '(^|/)(include|bin|share)/|\.pc$|\.cmake$' \
  || fail "the wheel holds more than the package"
version=$(sed -nE 's/^project\(gracedb VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
[[ $(basename "$wheel") == gracedb_cpp-$version-* ]] || fail "the wheel's version is not CMake's $version"
"$python" -m zipfile -e "$wheel" "$work/unpacked"
grep -A1 '^\[pytest11\]' "$work"/unpacked/gracedb_cpp-*.dist-info/entry_points.txt \
  | grep -q 'gracedb_cpp.testing' \
  || fail "no pytest11 entry point"

"$python" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install --no-deps --no-index "$wheel" > "$work/install.log" 2>&1 \
  || { cat "$work/install.log"; fail "pip install of the wheel into the venv"; }
step "installed into a fresh venv"

# From the venv only: a clean environment, a folder outside the source tree.
venv_env=(env -i PATH="$work/venv/bin:/usr/bin:/bin" HOME="$work/run" PYTHONDONTWRITEBYTECODE=1
          GRACEDB_SHARED_DATA_DIR="${GRACEDB_SHARED_DATA_DIR:-$src/../shared/data}")
cd "$work/run"
"${venv_env[@]}" python - "$work/venv" <<'EOF' || fail "gracedb_cpp does not come from the venv"
import pathlib, sys
import gracedb_cpp, gracedb_cpp.kafka, gracedb_cpp._core, gracedb_cpp._testing
venv = pathlib.Path(sys.argv[1]).resolve()
for m in (gracedb_cpp, gracedb_cpp._core, gracedb_cpp._testing):
    assert venv in pathlib.Path(m.__file__).resolve().parents, f"{m.__name__} from {m.__file__}, not {venv}"
print(f"gracedb_cpp {gracedb_cpp.__version__} from {pathlib.Path(gracedb_cpp.__file__).parent}")
EOF

# The fixture, with no conftest.py and no pytest_plugins anywhere: only the entry point provides it.
cat > "$work/run/test_fixture_from_entry_point.py" <<'EOF'
from gracedb_cpp.kafka import GraceDbKafkaProducer
from gracedb_cpp.rest import GraceDb


def test_gracedb_sandbox_fixture(gracedb_sandbox):
    sb = gracedb_sandbox
    with GraceDbKafkaProducer(sb.bootstrap_servers, service_url=sb.service_url, **sb.kafka_config) as p:
        response = GraceDb(sb.service_url).create_event("CBC", "gstlal", "coinc.xml",
                                                        filecontents=b"<LIGO_LW/>", kafka=p)
    assert response.json()["graceid"].startswith("G")
EOF
"${venv_env[@]}" python -m pytest -q -p no:cacheprovider "$work/run/test_fixture_from_entry_point.py" \
  || fail "the gracedb_sandbox fixture through the pytest11 entry point"
step "the pytest plugin is found through its entry point"

# The specification's examples; the suite's conftest.py registers no plugin (GRACEDB_PYTEST_PLUGIN empty).
"${venv_env[@]}" GRACEDB_PYTEST_PLUGIN= python -m pytest -q -p no:cacheprovider -rfE \
  "$src/tests/python/test_spec_examples.py" || fail "the specification's examples from the venv"
step "the specification's Python examples pass from the venv"
