# Run by cpack for each generator (CPACK_PROJECT_CONFIG_FILE, set in shmframePackaging.cmake).
# A package that installs under a prefix other than the one the build was configured with
# still works, but its programs carry the configured plugin directory (SHMFRAME_PLUGIN_DIR):
# say so, with the fix.
if(CPACK_PACKAGING_INSTALL_PREFIX AND NOT CPACK_SHMFRAME_CONFIGURED_PREFIX STREQUAL CPACK_PACKAGING_INSTALL_PREFIX)
  message(WARNING
    "shmframe: this build was configured with CMAKE_INSTALL_PREFIX=${CPACK_SHMFRAME_CONFIGURED_PREFIX} but the "
    "${CPACK_GENERATOR} package installs under ${CPACK_PACKAGING_INSTALL_PREFIX}: its programs carry plugin "
    "directories under ${CPACK_SHMFRAME_CONFIGURED_PREFIX}. Package a build configured with "
    "-DCMAKE_INSTALL_PREFIX=${CPACK_PACKAGING_INSTALL_PREFIX} (cmake --preset release).")
endif()
