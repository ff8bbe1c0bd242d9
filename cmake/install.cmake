# What `cmake --install` puts in place besides the binaries, included from CMakeLists.txt once the
# objects of libsluice (sluice_objs) exist: libsluice shared and static, its headers, a pkg-config
# file for each, the CMake package (sluice::sluice, sluice::sluice_static) and the systemd unit.
# docs/embedding.md is the user's side of it.
include(CMakePackageConfigHelpers)

# The version, from project(VERSION) only: server/api/sluice_version.h.in -> include/sluice_version.h,
# which sluice.h includes (in the tree through the `sluice` and `sluice_objs` include paths).
configure_file(server/api/sluice_version.h.in include/sluice_version.h @ONLY)
target_include_directories(sluice PUBLIC ${CMAKE_CURRENT_BINARY_DIR}/include)
target_include_directories(sluice_objs PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/include)

# What the installed targets depend on, under names of their own (SLUICE_DEP_*) so that the CMake
# package can create the same imported targets in a host's project without touching the host's
# own PkgConfig::UV & co. libuv is public (sluice.h includes uv.h); the rest only the static
# archive needs at link time.
pkg_check_modules(SLUICE_DEP_UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(SLUICE_DEP_MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(SLUICE_DEP_ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(SLUICE_DEP_CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
pkg_check_modules(SLUICE_DEP_CURL REQUIRED IMPORTED_TARGET libcurl)
set(SLUICE_INCLUDES $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/server>
  $<BUILD_INTERFACE:${CMAKE_CURRENT_BINARY_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

# The public API: the global names of cmake/sluice.map, also written one a line to sluice.api for
# the static archive below. Editing the map reconfigures.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/sluice.map)
file(STRINGS cmake/sluice.map SLUICE_API REGEX "^[ \t]*sl_[a-z0-9_]+;")
string(REGEX REPLACE "[ \t]" "" SLUICE_API "${SLUICE_API}") # "sl_a;;sl_b;" -> the list sl_a;sl_b
list(REMOVE_ITEM SLUICE_API "")
list(JOIN SLUICE_API "\n" SLUICE_API_LINES)
file(CONFIGURE OUTPUT sluice.api CONTENT "${SLUICE_API_LINES}\n" @ONLY) # rewritten only if changed

# libsluice.so.MAJOR: only the API exported, each name versioned (SLUICE_0, cmake/sluice.map).
add_library(sluice_shared SHARED $<TARGET_OBJECTS:sluice_objs>)
set_target_properties(sluice_shared PROPERTIES OUTPUT_NAME sluice EXPORT_NAME sluice
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  PUBLIC_HEADER "server/api/sluice.h;${CMAKE_CURRENT_BINARY_DIR}/include/sluice_version.h"
  LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/sluice.map)
target_link_options(sluice_shared PRIVATE
  -Wl,--version-script=${CMAKE_CURRENT_SOURCE_DIR}/cmake/sluice.map -Wl,--no-undefined)
target_include_directories(sluice_shared INTERFACE ${SLUICE_INCLUDES})
target_link_libraries(sluice_shared PUBLIC PkgConfig::SLUICE_DEP_UV
  PRIVATE PkgConfig::SLUICE_DEP_MHD PkgConfig::SLUICE_DEP_ZLIB PkgConfig::SLUICE_DEP_CRYPTO
  PkgConfig::SLUICE_DEP_CURL)

# libsluice.a: the same objects linked into one relocatable object (ld -r) whose global symbols
# are then the API alone (objcopy --keep-global-symbols): every internal function becomes local,
# so none can clash with a host's own (sl_budget_*, sl_stream_*, …), as in the shared library.
# The price: a host that links the archive takes all of libsluice, not only the members it
# uses. Without ld/objcopy (not GNU binutils), a plain archive of the objects.
if(CMAKE_LINKER AND CMAKE_OBJCOPY AND NOT APPLE)
  set(SLUICE_RELOC ${CMAKE_CURRENT_BINARY_DIR}/libsluice_api.o)
  add_custom_command(OUTPUT ${SLUICE_RELOC}
    COMMAND ${CMAKE_LINKER} -r -o ${SLUICE_RELOC} $<TARGET_OBJECTS:sluice_objs>
    COMMAND ${CMAKE_OBJCOPY} --keep-global-symbols=${CMAKE_CURRENT_BINARY_DIR}/sluice.api ${SLUICE_RELOC}
    DEPENDS sluice_objs $<TARGET_OBJECTS:sluice_objs> ${CMAKE_CURRENT_BINARY_DIR}/sluice.api
    COMMENT "Linking libsluice_api.o: libsluice's objects with only the API global"
    COMMAND_EXPAND_LISTS VERBATIM)
  add_library(sluice_archive STATIC ${SLUICE_RELOC})
  set_target_properties(sluice_archive PROPERTIES LINKER_LANGUAGE C)
else()
  add_library(sluice_archive STATIC $<TARGET_OBJECTS:sluice_objs>)
endif()
set_target_properties(sluice_archive PROPERTIES OUTPUT_NAME sluice EXPORT_NAME sluice_static)
target_include_directories(sluice_archive INTERFACE ${SLUICE_INCLUDES})
target_link_libraries(sluice_archive INTERFACE PkgConfig::SLUICE_DEP_UV PkgConfig::SLUICE_DEP_MHD
  PkgConfig::SLUICE_DEP_ZLIB PkgConfig::SLUICE_DEP_CRYPTO PkgConfig::SLUICE_DEP_CURL)

# Headers: sluice.h and sluice_version.h (PUBLIC_HEADER above); the error codes every call
# returns are the one map of streams/error.h, installed as sluice_error.h.
install(TARGETS sluice_shared sluice_archive EXPORT sluiceTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES streams/error.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} RENAME sluice_error.h)

# pkg-config: sluice.pc (the shared library; --static lists the archive's dependencies too, but
# -lsluice still picks the .so) and sluice-static.pc (libsluice.a itself). Both relocatable:
# their paths are relative to the .pc file's place.
file(RELATIVE_PATH SLUICE_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/sluice.pc.in sluice.pc @ONLY)
configure_file(cmake/sluice-static.pc.in sluice-static.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sluice.pc ${CMAKE_CURRENT_BINARY_DIR}/sluice-static.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The CMake package: find_package(sluice) -> sluice::sluice (shared), sluice::sluice_static.
# sluiceTargets.cmake is generated from the targets above; sluiceConfig.cmake finds their
# dependencies again (cmake/sluiceConfig.cmake.in); a 0.x package satisfies a request for 0.y
# only when y <= x (SameMajorVersion), as the soname promises.
set(SLUICE_CONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)
install(EXPORT sluiceTargets NAMESPACE sluice:: DESTINATION ${SLUICE_CONFIG_DIR})
configure_package_config_file(cmake/sluiceConfig.cmake.in sluiceConfig.cmake
  INSTALL_DESTINATION ${SLUICE_CONFIG_DIR})
write_basic_package_version_file(sluiceConfigVersion.cmake COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sluiceConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/sluiceConfigVersion.cmake DESTINATION ${SLUICE_CONFIG_DIR})

# The systemd unit and the user it runs as (contrib/sluice.service.in, contrib/sluice.sysusers).
# ExecStart names the installed binary: the unit is written at install time, from the prefix
# then in force (`cmake --install --prefix P` included). SLUICE_SYSTEMD_UNITDIR and
# SLUICE_SYSUSERSDIR (relative to the prefix, or absolute: a package passes
# `pkg-config --variable=systemdsystemunitdir systemd`) are where systemd looks under /usr and
# /usr/local (systemd.unit(5), sysusers.d(5)); not CMAKE_INSTALL_LIBDIR, which is multiarch.
set(SLUICE_SYSTEMD_UNITDIR lib/systemd/system CACHE STRING "Where sluice.service is installed")
set(SLUICE_SYSUSERSDIR lib/sysusers.d CACHE STRING "Where the sysusers.d file is installed")
install(CODE "
  set(SLUICE_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(SLUICE_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
  set(SLUICE_UNIT_IN \"${CMAKE_CURRENT_SOURCE_DIR}/contrib/sluice.service.in\")
  set(SLUICE_UNIT_OUT \"${CMAKE_CURRENT_BINARY_DIR}/sluice.service\")
  include(\"${CMAKE_CURRENT_SOURCE_DIR}/cmake/sluice_unit.cmake\")")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sluice.service DESTINATION ${SLUICE_SYSTEMD_UNITDIR})
install(FILES README.md LICENSE docs/embedding.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES contrib/sluice.sysusers DESTINATION ${SLUICE_SYSUSERSDIR} RENAME sluice.conf)
