// The build fingerprint that host and plugins must share. C++ objects (tensors, modules, strings) cross
// the plugin boundary, so LibTorch, CUDA, the compiler and the C++ standard library ABI must all agree;
// a plugin built against another LibTorch loads without error and then crashes, so the host refuses it.
#pragma once

// Raised whenever a type that crosses the plugin boundary changes layout (2: BuildContext side information;
// 3: modality features in Batch, ItemTower and BuildContext; 4: BuildContext reads features only through the store;
// 5: BuildContext carries the dropout kernel instead of a seed, TransformerOptions too; 6: SequenceEncoder may be
// bidirectional and choose its own training targets, TransformerOptions::causal, ItemTower::output_vectors).
#define MMSR_SDK_VERSION_STRING "6"

#ifndef MMSR_TORCH_VERSION_STRING
#error "MMSR_TORCH_VERSION_STRING is set by cmake/MmsrFingerprint.cmake: link the mmsr_sdk target"
#endif

#define MMSR_STRINGIFY_INNER(x) #x
#define MMSR_STRINGIFY(x) MMSR_STRINGIFY_INNER(x)

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define MMSR_CXX11_ABI_STRING MMSR_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)
#else
#define MMSR_CXX11_ABI_STRING "n/a"
#endif

#define MMSR_BUILD_FINGERPRINT                                                                  \
  "sdk=" MMSR_SDK_VERSION_STRING ";torch=" MMSR_TORCH_VERSION_STRING                            \
  ";cuda=" MMSR_CUDA_VERSION_STRING ";compiler=" MMSR_COMPILER_STRING                          \
  ";cxx11abi=" MMSR_CXX11_ABI_STRING
