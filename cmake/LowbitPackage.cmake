# The lowbit package: lowbit:: targets for plugins and host executables, and `cmake --install`
# rules (headers under include/lowbit, static libraries, the executables, lowbitConfig.cmake).
# Included by the top-level CMakeLists.txt after every library exists.
#
#   cmake --install build --prefix ~/.local
#   # elsewhere: find_package(lowbit REQUIRED) then lowbit_add_plugin(my_layer my_layer.cpp)

include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(LOWBIT_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/lowbit)
set(LOWBIT_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/lowbit)

# Libraries a host or a gradient test links, each exported as lowbit::<name>.
set(LOWBIT_EXPORTED_LIBS lowbit_core lowbit_layers lowbit_optim lowbit_data lowbit_quant lowbit_xnor
                         lowbit_quant_terms lowbit_gradcheck)

# The libraries name the source tree as their include directory; installed, it is
# include/lowbit (headers keep their folder: "core/tensor.hpp").
foreach(lib IN LISTS LOWBIT_EXPORTED_LIBS)
  get_target_property(dirs ${lib} INTERFACE_INCLUDE_DIRECTORIES)
  set(fixed "")
  foreach(dir IN LISTS dirs)
    if(dir STREQUAL PROJECT_SOURCE_DIR)
      list(APPEND fixed "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>" "$<INSTALL_INTERFACE:${LOWBIT_INSTALL_INCLUDEDIR}>")
    else()
      list(APPEND fixed "${dir}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES fixed)
  set_target_properties(${lib} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${fixed}")
  string(REGEX REPLACE "^lowbit_" "" short ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${short})
  add_library(lowbit::${short} ALIAS ${lib})
endforeach()

# Warning flags and -march=native are this build's choice, not its users'; the sanitizer link
# flags stay (a sanitized library needs them to link).
get_target_property(opts lowbit_options INTERFACE_COMPILE_OPTIONS)
if(opts)
  set(wrapped "")
  foreach(opt IN LISTS opts)
    list(APPEND wrapped "$<BUILD_INTERFACE:${opt}>")
  endforeach()
  set_target_properties(lowbit_options PROPERTIES INTERFACE_COMPILE_OPTIONS "${wrapped}")
endif()
# Every lowbit header needs C++20: a usage requirement of every library (they all link options).
target_compile_features(lowbit_options INTERFACE cxx_std_20)
set_target_properties(lowbit_options PROPERTIES EXPORT_NAME options)
set_target_properties(lowbit_openblas PROPERTIES EXPORT_NAME openblas)

# lowbit::plugin_api: what a plugin compiles against (headers, C++20, fmt), no library.
add_library(lowbit_plugin_api INTERFACE)
add_library(lowbit::plugin_api ALIAS lowbit_plugin_api)
target_include_directories(lowbit_plugin_api INTERFACE
  "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>" "$<INSTALL_INTERFACE:${LOWBIT_INSTALL_INCLUDEDIR}>")
target_compile_features(lowbit_plugin_api INTERFACE cxx_std_20)
target_link_libraries(lowbit_plugin_api INTERFACE fmt::fmt)
set_target_properties(lowbit_plugin_api PROPERTIES EXPORT_NAME plugin_api)

# lowbit::lowbit: every training library, for an executable of one's own (lowbit_enable_plugins
# lets it load plugins).
add_library(lowbit_all INTERFACE)
add_library(lowbit::lowbit ALIAS lowbit_all)
target_link_libraries(lowbit_all INTERFACE lowbit_core lowbit_layers lowbit_optim lowbit_data lowbit_quant)
set_target_properties(lowbit_all PROPERTIES EXPORT_NAME lowbit)

install(TARGETS ${LOWBIT_EXPORTED_LIBS} lowbit_options lowbit_openblas lowbit_plugin_api lowbit_all
  EXPORT lowbitTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS train evaluate export infer RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(dir IN ITEMS core layers optim data quant)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${LOWBIT_INSTALL_INCLUDEDIR}/${dir}
          FILES_MATCHING PATTERN "*.hpp")
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/tests/support/gradcheck.hpp
        DESTINATION ${LOWBIT_INSTALL_INCLUDEDIR}/tests/support)

install(EXPORT lowbitTargets NAMESPACE lowbit:: DESTINATION ${LOWBIT_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/lowbitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/lowbitConfig.cmake INSTALL_DESTINATION ${LOWBIT_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_BINDIR)
# Plugins depend on the exact headers (LOWBIT_PLUGIN_API_VERSION is checked at load time too).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lowbitConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/lowbitConfig.cmake ${PROJECT_BINARY_DIR}/lowbitConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/LowbitPlugin.cmake
        DESTINATION ${LOWBIT_INSTALL_CMAKEDIR})
