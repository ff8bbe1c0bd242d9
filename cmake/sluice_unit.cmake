# Run by `cmake --install` (cmake/install.cmake): writes sluice.service from
# contrib/sluice.service.in with the directories of this installation, CMAKE_INSTALL_PREFIX being
# the prefix of this run (--prefix included; not DESTDIR, which is only where files are staged).
# In: SLUICE_BINDIR, SLUICE_DOCDIR (relative to the prefix, or absolute), SLUICE_UNIT_IN,
# SLUICE_UNIT_OUT.
foreach(dir SLUICE_BINDIR SLUICE_DOCDIR)
  if(NOT IS_ABSOLUTE "${${dir}}")
    set(${dir} "${CMAKE_INSTALL_PREFIX}/${${dir}}")
  endif()
endforeach()
configure_file("${SLUICE_UNIT_IN}" "${SLUICE_UNIT_OUT}" @ONLY)
