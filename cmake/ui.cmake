# The upload page (ui/): its npm packages pinned by ui/package-lock.json and installed with
# `npm ci`, bundled by ui/build.mjs (esbuild) into <build>/ui, installed into
# <prefix>/share/sluice/ui. sluice reads it from there (server/http/ui.c: the build tree's when the
# binary runs from the build tree, else the installed one, or --ui-dir). Without Node.js and npm,
# or with -DSLUICE_UI=OFF, sluice is built without its page (GET / is then 404).
option(SLUICE_UI "Bundle the upload page (ui/; needs Node.js and npm)" ON)
set(UI_BUILD_DIR ${CMAKE_BINARY_DIR}/ui)
set(UI_INSTALL_DIR ${CMAKE_INSTALL_FULL_DATADIR}/sluice/ui)
set_source_files_properties(server/http/ui.c PROPERTIES COMPILE_DEFINITIONS
  "SL_UI_BUILD_DIR=\"${UI_BUILD_DIR}\";SL_UI_INSTALL_DIR=\"${UI_INSTALL_DIR}\"")
if(SLUICE_UI)
  find_program(NODE node)
  find_program(NPM npm)
  if(NOT NODE OR NOT NPM)
    message(WARNING "node or npm not found: building without the upload page (-DSLUICE_UI=OFF to silence)")
    set(SLUICE_UI OFF)
  endif()
endif()
if(SLUICE_UI)
  set(UI_SRC ${CMAKE_CURRENT_SOURCE_DIR}/ui)
  file(GLOB UI_FILES CONFIGURE_DEPENDS ${UI_SRC}/src/*)
  # npm writes node_modules/.package-lock.json on every install: it stands for node_modules.
  add_custom_command(OUTPUT ${UI_SRC}/node_modules/.package-lock.json
    COMMAND ${NPM} ci --no-audit --no-fund --loglevel=error
    WORKING_DIRECTORY ${UI_SRC}
    DEPENDS ${UI_SRC}/package.json ${UI_SRC}/package-lock.json
    COMMENT "npm ci in ui/")
  add_custom_command(OUTPUT ${UI_BUILD_DIR}/index.html
    COMMAND ${NODE} ${UI_SRC}/build.mjs ${UI_BUILD_DIR}
    DEPENDS ${UI_FILES} ${UI_SRC}/build.mjs ${UI_SRC}/node_modules/.package-lock.json
    COMMENT "bundling the upload page into ${UI_BUILD_DIR}")
  add_custom_target(sluice_ui ALL DEPENDS ${UI_BUILD_DIR}/index.html)
  install(DIRECTORY ${UI_BUILD_DIR}/ DESTINATION ${CMAKE_INSTALL_DATADIR}/sluice/ui)
endif()
