# The build fingerprint: everything that must agree between the host and a plugin for C++ objects
# (tensors, modules, std::string) to cross the library boundary safely. Host and plugins are compiled
# with the same definitions; the host compares the plugin's string with its own before running plugin code.
set(MMSR_TORCH_VERSION "${Torch_VERSION}")
if(NOT MMSR_TORCH_VERSION)
  set(MMSR_TORCH_VERSION "unknown")
endif()
if(DEFINED CUDA_VERSION AND CUDA_VERSION)
  set(MMSR_CUDA_FINGERPRINT "${CUDA_VERSION}")
elseif(DEFINED CUDAToolkit_VERSION AND CUDAToolkit_VERSION)
  set(MMSR_CUDA_FINGERPRINT "${CUDAToolkit_VERSION}")
else()
  set(MMSR_CUDA_FINGERPRINT "none")
endif()
set(MMSR_COMPILER_FINGERPRINT "${CMAKE_CXX_COMPILER_ID}-${CMAKE_CXX_COMPILER_VERSION}")
set(MMSR_FINGERPRINT_DEFINITIONS
  MMSR_TORCH_VERSION_STRING="${MMSR_TORCH_VERSION}"
  MMSR_CUDA_VERSION_STRING="${MMSR_CUDA_FINGERPRINT}"
  MMSR_COMPILER_STRING="${MMSR_COMPILER_FINGERPRINT}")
message(STATUS "mmsr fingerprint: torch ${MMSR_TORCH_VERSION}, cuda ${MMSR_CUDA_FINGERPRINT}, ${MMSR_COMPILER_FINGERPRINT}")
