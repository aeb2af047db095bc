# mmsr_add_plugin(NAME <name> SOURCES <files...>)
#
# Builds plugins/<kind>/<name> as lib/mmsr/plugins/mmsr_<name>.so: hidden visibility (only the
# mmsr_plugin_<name> entry is exported), LibTorch linked shared (one copy per process), and the build
# fingerprint compiled in. It also builds an object library mmsr_plugin_<name>_objects so tests can link
# the same registration statically.
function(mmsr_add_plugin)
  cmake_parse_arguments(P "" "NAME" "SOURCES" ${ARGN})
  if(NOT P_NAME OR NOT P_SOURCES)
    message(FATAL_ERROR "mmsr_add_plugin needs NAME and SOURCES")
  endif()
  set(objects mmsr_plugin_${P_NAME}_objects)
  add_library(${objects} OBJECT ${P_SOURCES})
  target_link_libraries(${objects} PUBLIC mmsr_sdk)
  target_compile_definitions(${objects} PRIVATE MMSR_PLUGIN_NAME=${P_NAME} MMSR_BUILDING_PLUGIN)
  set_target_properties(${objects} PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)

  set(target mmsr_${P_NAME})
  add_library(${target} MODULE $<TARGET_OBJECTS:${objects}>)
  target_link_libraries(${target} PRIVATE mmsr_sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME mmsr_${P_NAME}
    LIBRARY_OUTPUT_DIRECTORY ${MMSR_PLUGIN_OUTPUT_DIR}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  set_target_properties(${target} PROPERTIES INSTALL_RPATH "$ORIGIN/../..;${MMSR_TORCH_LIB_DIR}")
  install(TARGETS ${target} LIBRARY DESTINATION lib/mmsr/plugins)
  set_property(GLOBAL APPEND PROPERTY MMSR_PLUGINS ${P_NAME})
  add_dependencies(mmsr_plugins ${target})
endfunction()
