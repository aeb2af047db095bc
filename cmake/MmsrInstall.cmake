# `cmake --install build --prefix PREFIX` puts mmsr where a plugin author builds against it:
#   PREFIX/bin/mmsr, PREFIX/lib/libmmsr_{core,sdk}.so, PREFIX/lib/mmsr/plugins/mmsr_<name>.so,
#   PREFIX/include/mmsr/..., PREFIX/lib/cmake/mmsr/mmsrConfig.cmake (find_package(mmsr) and mmsr_add_plugin).
include(CMakePackageConfigHelpers)

install(TARGETS mmsr_sdk EXPORT mmsrTargets LIBRARY DESTINATION lib)
install(TARGETS mmsr_core LIBRARY DESTINATION lib)
install(TARGETS mmsr RUNTIME DESTINATION bin)
set_target_properties(mmsr_core PROPERTIES INSTALL_RPATH "$ORIGIN;${MMSR_TORCH_LIB_DIR}")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/mmsr DESTINATION include)
install(EXPORT mmsrTargets NAMESPACE mmsr:: DESTINATION lib/cmake/mmsr)

set(MMSR_CONFIG_TORCH_DIR "${Torch_DIR}")
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mmsrConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/cmake/mmsrConfig.cmake INSTALL_DESTINATION lib/cmake/mmsr)
# The SDK is compatible within a minor version: the plugin ABI and fingerprint checks do the rest at load time.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/mmsrConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/mmsrConfig.cmake ${CMAKE_BINARY_DIR}/cmake/mmsrConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/MmsrFingerprint.cmake
        DESTINATION lib/cmake/mmsr)
