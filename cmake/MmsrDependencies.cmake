# Third-party dependencies: all from Debian packages except LibTorch (pass its prefix in CMAKE_PREFIX_PATH).
find_package(Torch REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS filesystem)
find_package(tomlplusplus 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 CONFIG QUIET)
if(NOT TARGET CLI11::CLI11)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()
find_package(Threads REQUIRED)

# Data-parallel training uses c10d's Gloo backend, which LibTorch's library contains but whose headers the wheel
# does not ship: ProcessGroupGloo.hpp includes Gloo's own headers, taken from Debian's libgloo-dev. Only
# declarations are used (Gloo's code is the copy inside libtorch_cpu; libgloo itself is never linked).
find_path(MMSR_GLOO_INCLUDE_DIR gloo/rendezvous/store.h DOC "Gloo's headers (Debian: libgloo-dev)")
if(MMSR_GLOO_INCLUDE_DIR)
  message(STATUS "mmsr: data-parallel training over Gloo (headers in ${MMSR_GLOO_INCLUDE_DIR})")
else()
  message(WARNING "Gloo's headers are missing: [train].processes > 1 will be refused (scripts/setup.sh installs libgloo-dev)")
endif()

# xxHash (Debian: libxxhash-dev): hashing a whole interaction file for the prepared-dataset cache's key at memory
# speed (the byte-wise hash of mmsr/text.h would take longer than reading the cached data).
find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(XXHASH_LIBRARY xxhash REQUIRED)
add_library(xxhash::xxhash UNKNOWN IMPORTED)
set_target_properties(xxhash::xxhash PROPERTIES IMPORTED_LOCATION ${XXHASH_LIBRARY}
                                                INTERFACE_INCLUDE_DIRECTORIES ${XXHASH_INCLUDE_DIR})
