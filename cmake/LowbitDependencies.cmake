# Third-party dependencies, all from Debian packages (scripts/setup.sh installs them).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(ZLIB REQUIRED)
find_package(fmt REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)

# OpenBLAS: link the OpenMP build explicitly. Debian's default libopenblas.so.0 alternative is the
# pthread build, whose worker threads busy-wait after each call and starve our OpenMP kernels.
find_library(LOWBIT_OPENBLAS_LIBRARY
  NAMES openblas openblaso
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
find_path(LOWBIT_CBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-openmp
        /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas
  NO_DEFAULT_PATH)
if(NOT LOWBIT_OPENBLAS_LIBRARY OR NOT LOWBIT_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "OpenBLAS (OpenMP build) not found. HINT: run scripts/setup.sh "
                      "(installs libopenblas-dev and libopenblas0-openmp).")
endif()
add_library(lowbit_openblas INTERFACE)
target_link_libraries(lowbit_openblas INTERFACE ${LOWBIT_OPENBLAS_LIBRARY})
target_include_directories(lowbit_openblas SYSTEM INTERFACE ${LOWBIT_CBLAS_INCLUDE_DIR})
message(STATUS "lowbit: OpenBLAS ${LOWBIT_OPENBLAS_LIBRARY}")
