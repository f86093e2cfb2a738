# Installs the library, its headers, the CMake package (find_package(shmframe)) and the
# pkg-config files. Included from the top-level CMakeLists.txt when SHMFRAME_INSTALL is on.
#
#   <prefix>/include/shmframe/...                    headers (opencv.hpp only with the adapter)
#   <prefix>/<libdir>/libshmframe.*
#   <prefix>/<libdir>/cmake/shmframe/                shmframeConfig.cmake, ...ConfigVersion.cmake,
#                                                    shmframeTargets.cmake, shmframeOpenCVTargets.cmake
#   <prefix>/<libdir>/pkgconfig/shmframe.pc, shmframe-opencv.pc
#   <prefix>/<libdir>/shmframe/plugins/              created empty for the consumer's plugins
#                                                    (SHMFRAME_PLUGIN_INSTALL_DIR, shmframeDirs.cmake)
# The programs (apps, samples, viewer) install themselves through shmframe_install_programs().
include(CMakePackageConfigHelpers)

set(SHMFRAME_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/shmframe" CACHE STRING
  "Where shmframeConfig.cmake goes, relative to the prefix")
mark_as_advanced(SHMFRAME_INSTALL_CMAKEDIR)

install(TARGETS shmframe shmframe_plugin EXPORT shmframeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT shmframeTargets NAMESPACE shmframe:: DESTINATION ${SHMFRAME_INSTALL_CMAKEDIR})
# The build tree is a package too: find_package(shmframe) with shmframe_DIR=<build dir> uses the
# targets in place, without installing (as spdlog's and iceoryx's build trees allow).
export(EXPORT shmframeTargets NAMESPACE shmframe:: FILE ${PROJECT_BINARY_DIR}/shmframeTargets.cmake)

# The public headers; detail/ is the library's own (no public header includes it).
if(TARGET shmframe_opencv)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/shmframe/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    PATTERN detail EXCLUDE)
  install(TARGETS shmframe_opencv EXPORT shmframeOpenCVTargets)
  install(EXPORT shmframeOpenCVTargets NAMESPACE shmframe:: DESTINATION ${SHMFRAME_INSTALL_CMAKEDIR})
  export(EXPORT shmframeOpenCVTargets NAMESPACE shmframe:: FILE ${PROJECT_BINARY_DIR}/shmframeOpenCVTargets.cmake)
else()
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/shmframe/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    PATTERN opencv.hpp EXCLUDE PATTERN opencv_convert.hpp EXCLUDE PATTERN detail EXCLUDE)
endif()

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/shmframeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shmframeConfig.cmake
  INSTALL_DESTINATION ${SHMFRAME_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shmframeConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/shmframeConfig.cmake
  ${PROJECT_BINARY_DIR}/shmframeConfigVersion.cmake
  DESTINATION ${SHMFRAME_INSTALL_CMAKEDIR})

# pkg-config files locate the prefix from their own directory (${pcfiledir}), so an install
# with `cmake --install --prefix P` works wherever P is.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(SHMFRAME_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _shmframe_pc_up "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" _shmframe_pc_up "${_shmframe_pc_up}")
  set(SHMFRAME_PC_PREFIX "\${pcfiledir}/${_shmframe_pc_up}")
endif()
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(SHMFRAME_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(SHMFRAME_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/shmframe.pc.in ${PROJECT_BINARY_DIR}/shmframe.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/shmframe.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(TARGET shmframe_opencv)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/shmframe-opencv.pc.in ${PROJECT_BINARY_DIR}/shmframe-opencv.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/shmframe-opencv.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

# The consumer searches this directory for plugins; it exists even before a plugin is installed
# into it, so a package owns it and removes it.
if(SHMFRAME_BUILD_APPS)
  install(DIRECTORY DESTINATION ${SHMFRAME_PLUGIN_INSTALL_DIR})
endif()
