# Plugins for lowbit (docs/plugins.md). Included by lowbit's own build and installed with the
# package, so `find_package(lowbit)` provides the same two functions out of tree.
#
#   lowbit_add_plugin(my_layer my_layer.cpp)   # -> libmy_layer.so, loaded with `plugins:` or --plugin
#   lowbit_enable_plugins(my_host)             # an executable of your own that loads plugins
#
# How symbols meet: a plugin uses lowbit's classes and registries from the executable that loads
# it. Plugins therefore link no lowbit library (only the headers, lowbit::plugin_api), and the
# executables export their symbols and carry every object of lowbit's static libraries. A plugin
# that linked the static libraries would register into its own copy of the registries.

# lowbit_add_plugin(<name> <source>...): a MODULE library lib<name>.so built with lowbit's headers,
# C++20 and -fPIC. Link further libraries with target_link_libraries(<name> PRIVATE ...).
function(lowbit_add_plugin name)
  if(NOT ARGN)
    message(FATAL_ERROR "lowbit_add_plugin(${name}): give at least one source file")
  endif()
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE lowbit::plugin_api)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    POSITION_INDEPENDENT_CODE ON
    CXX_EXTENSIONS OFF)
endfunction()

# lowbit_enable_plugins(<executable>): lets an executable that links lowbit load plugins: it
# exports its symbols (ENABLE_EXPORTS, -rdynamic) and links lowbit's static libraries whole, so
# every lowbit function a plugin may call is there even when the executable itself does not.
function(lowbit_enable_plugins target)
  set_target_properties(${target} PROPERTIES ENABLE_EXPORTS ON)
  set(archives "")
  foreach(lib IN ITEMS lowbit::core lowbit::layers lowbit::optim lowbit::data lowbit::quant)
    string(APPEND archives " $<TARGET_FILE:${lib}>")
  endforeach()
  # One SHELL: group, so option de-duplication cannot split the pair.
  target_link_options(${target} PRIVATE "SHELL:-Wl,--whole-archive${archives} -Wl,--no-whole-archive")
endfunction()
