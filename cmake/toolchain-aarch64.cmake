# Cross-build for 64-bit ARM with Debian's cross toolchain (g++-aarch64-linux-gnu), run under
# user-mode emulation (qemu-user-static). Libraries for the target come from Debian's multiarch
# packages (e.g. libgtest-dev:arm64 in /usr/lib/aarch64-linux-gnu).
# qemu runs the code, it does not model ARM's timing or its weak memory ordering (it executes
# on the x86 host's stronger order): what this catches is build breakage, x86-only code paths
# and ABI/layout differences; ordering is what tests/model is for.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /usr/aarch64-linux-gnu)
