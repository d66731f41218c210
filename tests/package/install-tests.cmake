# Installed as users install it (issue 24): the Debian packages (cpack -G DEB, apt-get install, use, purge)
# and the pip wheel (pip wheel, a fresh venv, the specification's Python examples). Each builds the project
# once more in a folder next to this build folder (<build>-deb, <build>-wheel): same flags and depth, so the
# compiler cache (CMAKE_CXX_COMPILER_LAUNCHER, e.g. ccache) serves what this build compiled.
set(install_test_args ${CMAKE_BUILD_TYPE} ${GRACEDB_WARNINGS_AS_ERRORS} ${CMAKE_CXX_COMPILER_LAUNCHER})
# Root only (apt-get; CI runs as root), skipped otherwise; alone (RUN_SERIAL): it installs into /usr.
add_test(NAME package.deb_install_use_remove
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/deb-install.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}-deb
                 ${install_test_args})
set_tests_properties(package.deb_install_use_remove PROPERTIES LABELS "package;deb" RUN_SERIAL TRUE
                     TIMEOUT 1800 SKIP_RETURN_CODE 77)
if(GRACEDB_BUILD_PYTHON)
  add_test(NAME python.wheel_in_fresh_venv
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/wheel-venv.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}-wheel
                   ${CMAKE_BINARY_DIR}/wheel-check ${install_test_args})
  set_tests_properties(python.wheel_in_fresh_venv PROPERTIES LABELS "python;package" TIMEOUT 1800
                       ENVIRONMENT "GRACEDB_SHARED_DATA_DIR=${GRACEDB_SHARED_DATA_DIR}")
endif()
