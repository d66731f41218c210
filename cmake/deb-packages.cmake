# Debian packages (issue 24): `cpack -G DEB` in a build folder configured with -DCMAKE_INSTALL_PREFIX=/usr
# makes one package per install component, split as Debian splits a library:
#   libgracedb0              runtime     the client library (soname libgracedb.so.0)
#   libgracedb-supervisor0   supervisor  the supervisor library
#   libgracedb-testing0      testing     the testing library (stand-in, mock cluster, sandbox)
#   libgracedb-dev           dev         headers, the .so links, the CMake package, the pkg-config files
#   gracedb-kafka            tool        the tool, its man page, the supervisor's systemd units
#   python3-gracedb-cpp      python      the Python package gracedb_cpp
# Dependencies on Debian's packages come from the binaries (dpkg-shlibdeps); those between ours are declared
# below (exact version). The test is tests/package/deb-install.sh (ctest -L deb).
if(SKBUILD)  # a pip build packages a wheel, not these
  return()
endif()

set(major ${PROJECT_VERSION_MAJOR})
set(CPACK_PACKAGE_NAME gracedb-cpp)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# Each package has its own description (CPACK_DEBIAN_<C>_DESCRIPTION, first line the summary): no common one.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGE_CONTACT "gracedb-cpp maintainers <gracedb-cpp@users.noreply.github.com>")
set(CPACK_PACKAGE_FILE_NAME gracedb-cpp-${PROJECT_VERSION})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# dpkg-shlibdeps must read our own libraries too (the tool and the modules need them): it finds them here,
# without dependency information (--ignore-missing-info), so the Depends between our packages come from the
# component dependencies below.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_COMPONENTS_ALL runtime supervisor testing dev)
# A shlibs file in each library package, so that packages built against ours depend on them.
foreach(lib IN ITEMS "runtime;gracedb;libgracedb" "supervisor;gracedb_supervisor;libgracedb-supervisor"
                     "testing;gracedb_testing;libgracedb-testing")
  list(GET lib 0 component)
  list(GET lib 1 name)
  list(GET lib 2 package)
  string(TOUPPER ${component} c)
  file(WRITE ${PROJECT_BINARY_DIR}/deb/${component}/shlibs
       "lib${name} ${major} ${package}${major} (>= ${PROJECT_VERSION})\n")
  set(CPACK_DEBIAN_${c}_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/deb/${component}/shlibs)
endforeach()
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libgracedb${major})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "GraceDB event submission over Apache Kafka (C++ library)
The client: Kafka producer and consumer with SciTokens, and the GraceDB REST client.")
set(CPACK_DEBIAN_SUPERVISOR_PACKAGE_NAME libgracedb-supervisor${major})
set(CPACK_DEBIAN_SUPERVISOR_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_SUPERVISOR_DEPENDS runtime)
set(CPACK_DEBIAN_SUPERVISOR_DESCRIPTION "GraceDB event submission over Apache Kafka (supervisor library)
The server side that completes the two-step uploads of events published over Kafka.")
set(CPACK_DEBIAN_TESTING_PACKAGE_NAME libgracedb-testing${major})
set(CPACK_DEBIAN_TESTING_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_TESTING_DEPENDS runtime supervisor)
set(CPACK_DEBIAN_TESTING_DESCRIPTION "GraceDB event submission over Apache Kafka (testing library)
For tests of pipelines: a GraceDB stand-in, a mock Kafka cluster, test SciTokens, an embedded sandbox.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libgracedb-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS runtime supervisor testing)
# nlohmann/json is in the public headers; the pkg-config files name the others (Requires.private).
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "nlohmann-json3-dev, librdkafka-dev, \
libcurl4-openssl-dev | libcurl-dev, libssl-dev, libcpp-httplib-dev, libjwt-dev, prometheus-cpp-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "GraceDB event submission over Apache Kafka (development files)
Headers, the CMake package (find_package(gracedb)) and the pkg-config files of the three libraries.")

if(GRACEDB_BUILD_APPS)
  list(APPEND CPACK_COMPONENTS_ALL tool)
  set(CPACK_DEBIAN_TOOL_PACKAGE_NAME gracedb-kafka)
  set(CPACK_DEBIAN_TOOL_PACKAGE_SECTION net)
  set(CPACK_COMPONENT_TOOL_DEPENDS runtime supervisor testing)
  set(CPACK_DEBIAN_TOOL_DESCRIPTION "GraceDB event submission over Apache Kafka (command-line tool)
gracedb-kafka: check, ping, produce, listen, create-event, the supervisor (with a systemd unit), a sandbox.")
endif()
if(GRACEDB_BUILD_PYTHON)
  list(APPEND CPACK_COMPONENTS_ALL python)
  set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-gracedb-cpp)
  set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
  set(CPACK_COMPONENT_PYTHON_DEPENDS runtime supervisor testing)
  # The modules are built for one Python (their file names carry its ABI).
  set(py ${PYTHON_VERSION_MAJOR}.${PYTHON_VERSION_MINOR})
  math(EXPR py_next "${PYTHON_VERSION_MINOR} + 1")
  set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
      "python3 (>= ${py}~), python3 (<< ${PYTHON_VERSION_MAJOR}.${py_next})")
  # Python writes __pycache__ into the package when root imports it: removed with the package (as py3clean).
  set(GRACEDB_PYTHON_PACKAGE_PATH ${CMAKE_INSTALL_PREFIX}/${GRACEDB_PYTHON_INSTALL_DIR}/gracedb_cpp)
  file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/deb/python/prerm @ONLY CONTENT [[#!/bin/sh
set -e
rm -rf "@GRACEDB_PYTHON_PACKAGE_PATH@/__pycache__"
]])
  file(CHMOD ${PROJECT_BINARY_DIR}/deb/python/prerm PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
       GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  set(CPACK_DEBIAN_PYTHON_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/deb/python/prerm)
  set(CPACK_DEBIAN_PYTHON_DESCRIPTION "GraceDB event submission over Apache Kafka (Python 3)
The package gracedb_cpp: the Kafka API of ligo-gracedb (gracedb_cpp.kafka, gracedb_cpp.rest) on the C++
library, and gracedb_cpp.testing (the embedded sandbox) for tests.")
endif()

# Debian's paths (the systemd unit's ExecStart, the multiarch library folder) are fixed at configure time.
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/CPackProjectConfig.cmake @ONLY CONTENT [[
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT "@CMAKE_INSTALL_PREFIX@" STREQUAL "/usr")
  message(FATAL_ERROR "Debian packages install under /usr, but this build folder was configured for "
    "@CMAKE_INSTALL_PREFIX@ (the systemd unit and the library paths are fixed at configure time). Configure "
    "a build folder with -DCMAKE_INSTALL_PREFIX=/usr and run cpack -G DEB there (docs/install.md).")
endif()
]])
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_BINARY_DIR}/CPackProjectConfig.cmake)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
include(CPack)
