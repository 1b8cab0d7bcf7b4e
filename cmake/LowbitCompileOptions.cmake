# Compile options shared by every lowbit target: lowbit_set_options(<target>).
add_library(lowbit_options INTERFACE)
target_compile_options(lowbit_options INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
if(LOWBIT_WERROR)
  target_compile_options(lowbit_options INTERFACE -Werror)
endif()
if(LOWBIT_NATIVE)
  target_compile_options(lowbit_options INTERFACE -march=native)
endif()
# Without LOWBIT_NATIVE the build is portable x86-64; SIMD kernels pick their ISA at run time.
if(LOWBIT_SANITIZE)
  target_compile_options(lowbit_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                  -fno-sanitize-recover=undefined
                                                  # GCC 12 reports false maybe-uninitialized
                                                  # and stringop-overflow warnings inside
                                                  # libstdc++ (std::regex, vector::resize,
                                                  # std::function) under the sanitizers.
                                                  -Wno-maybe-uninitialized -Wno-stringop-overflow)
  target_link_options(lowbit_options INTERFACE -fsanitize=address,undefined)
endif()
