# Where the installed parts of shmframe live, and how a program gets installed. Included from
# the top-level CMakeLists.txt whether or not SHMFRAME_INSTALL is on: the apps compile the
# plugin directory in, and plugin CMakeLists name SHMFRAME_PLUGIN_INSTALL_DIR, in every build.
#
#   SHMFRAME_PLUGIN_INSTALL_DIR  cache variable, relative to the prefix (or absolute):
#                                where plugins are installed, e.g. in a plugin's CMakeLists
#                                  install(TARGETS my_plugin LIBRARY DESTINATION ${SHMFRAME_PLUGIN_INSTALL_DIR})
#   shmframe_paths               INTERFACE target; linking it defines
#                                  SHMFRAME_PLUGIN_DIR="<prefix>/<plugin dir>"   absolute, from
#                                      CMAKE_INSTALL_PREFIX at configure time
#                                  SHMFRAME_PLUGIN_DIR_FROM_BINDIR="../lib/.../shmframe/plugins"
#                                      the same directory relative to the installed programs
#   shmframe_install_programs(t...)  installs executables into the bin dir when SHMFRAME_INSTALL
#                                    is on, and does nothing otherwise.
#
# SHMFRAME_PLUGIN_DIR is right only where the build is installed with the prefix it was
# configured with: `cmake --install --prefix P` and `dpkg-deb -x` put the files elsewhere
# without recompiling. A program that must work there too looks next to itself first:
# dirname(/proc/self/exe) + "/" SHMFRAME_PLUGIN_DIR_FROM_BINDIR, then SHMFRAME_PLUGIN_DIR.
set(_shmframe_default "${CMAKE_INSTALL_LIBDIR}/shmframe/plugins")
# The default follows CMAKE_INSTALL_LIBDIR, which GNUInstallDirs changes with the prefix
# (lib/<triplet> for /usr on Debian, lib elsewhere); a value set by hand stays.
if(SHMFRAME_PLUGIN_INSTALL_DIR STREQUAL _SHMFRAME_PLUGIN_INSTALL_DIR_DEFAULT)
  set(SHMFRAME_PLUGIN_INSTALL_DIR "${_shmframe_default}" CACHE STRING
    "Where plugins are installed, relative to the prefix (or absolute)" FORCE)
endif()
set(SHMFRAME_PLUGIN_INSTALL_DIR "${_shmframe_default}" CACHE STRING
  "Where plugins are installed, relative to the prefix (or absolute)")
set(_SHMFRAME_PLUGIN_INSTALL_DIR_DEFAULT "${_shmframe_default}" CACHE INTERNAL "")
mark_as_advanced(SHMFRAME_PLUGIN_INSTALL_DIR)

if(IS_ABSOLUTE "${SHMFRAME_PLUGIN_INSTALL_DIR}")
  set(_shmframe_abs "${SHMFRAME_PLUGIN_INSTALL_DIR}")
else()
  set(_shmframe_abs "${CMAKE_INSTALL_PREFIX}/${SHMFRAME_PLUGIN_INSTALL_DIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  set(_shmframe_bindir_abs "${CMAKE_INSTALL_BINDIR}")
else()
  set(_shmframe_bindir_abs "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
endif()
file(RELATIVE_PATH _shmframe_rel "${_shmframe_bindir_abs}" "${_shmframe_abs}")

add_library(shmframe_paths INTERFACE)
target_compile_definitions(shmframe_paths INTERFACE
  SHMFRAME_PLUGIN_DIR="${_shmframe_abs}"
  SHMFRAME_PLUGIN_DIR_FROM_BINDIR="${_shmframe_rel}")
unset(_shmframe_default)
unset(_shmframe_abs)
unset(_shmframe_bindir_abs)
unset(_shmframe_rel)

# Every installed program goes through here, so a new one (viewer/, a sample) is one line.
function(shmframe_install_programs)
  if(SHMFRAME_INSTALL)
    install(TARGETS ${ARGN} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endfunction()
