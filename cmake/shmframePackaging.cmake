# CPack: binary packages of what `cmake --install` installs. Included from the top-level
# CMakeLists.txt when SHMFRAME_INSTALL is on. In a build directory:
#   cpack -G DEB        -> shmframe_<version>_<arch>.deb, installs under /usr
#
# One package holds the apps and samples (bin), the library (static archive, headers, CMake
# package, pkg-config files) and the plugin directory. Its Depends are what the programs
# load at run time, computed by dpkg-shlibdeps (Debian's dpkg-dev) from the binaries themselves;
# building against the installed library also needs what Suggests names.
#
# Build the package from a tree configured with CMAKE_INSTALL_PREFIX=/usr (the `release`
# preset is): the binaries carry the absolute plugin directory (SHMFRAME_PLUGIN_DIR) of the
# prefix they were configured with, and GNUInstallDirs picks Debian's multiarch libdir
# (lib/<triplet>) only for /usr. cpack warns when the two prefixes differ.
set(SHMFRAME_PACKAGE_MAINTAINER "shmframe maintainers <maintainers@shmframe.invalid>" CACHE STRING
  "Maintainer field of the packages (Name <email>)")
set(SHMFRAME_PACKAGE_HOMEPAGE "https://shmframe.invalid/" CACHE STRING "Homepage field of the packages")
mark_as_advanced(SHMFRAME_PACKAGE_MAINTAINER SHMFRAME_PACKAGE_HOMEPAGE)

set(CPACK_PACKAGE_NAME shmframe)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SHMFRAME_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_VENDOR "shmframe")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "real-time video frame transport over shared memory")
# One string: a CMake list would lose its semicolons.
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "shmframe moves video frames between processes on one host through shared memory, without\n"
  "copying them. Either side may crash or restart: the other notices and carries on.\n"
  "This package holds shmframe-producer (test pattern, file, camera or GStreamer source),\n"
  "shmframe-consumer (live stats, per-frame JSON probe, stream status), the samples, and the\n"
  "C++20 library to build against: static archive, headers, CMake package\n"
  "(find_package(shmframe)) and pkg-config files, and the Python module (import shmframe).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)  # what a bare `cpack` makes
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git" "/build" "/cmake-build-" "/\\\\.cache/")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <name>_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SHMFRAME_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${SHMFRAME_PACKAGE_HOMEPAGE}")
set(CPACK_DEBIAN_PACKAGE_SECTION video)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the binaries (needs dpkg-shlibdeps from dpkg-dev and `file`).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The Python module is built for one interpreter version (its ABI) and imports numpy: what
# dpkg-shlibdeps cannot see. The shared libraries it links are found by dpkg-shlibdeps.
if(TARGET shmframe_python)
  set(_shmframe_py "${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}")
  math(EXPR _shmframe_py_next "${Python3_VERSION_MINOR} + 1")
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "python3 (>= ${_shmframe_py}~), python3 (<< ${Python3_VERSION_MAJOR}.${_shmframe_py_next}), python3-numpy")
endif()
# Building against the installed package: the CMake package / pkg-config files, and OpenCV's
# headers for the shmframe::opencv component.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake, pkg-config, libopencv-dev")

# Read by cpack itself (shmframeCPackOptions.cmake), not by this configure step.
set(CPACK_SHMFRAME_CONFIGURED_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PROJECT_CONFIG_FILE "${CMAKE_CURRENT_LIST_DIR}/shmframeCPackOptions.cmake")

include(CPack)
