// What the conformance suites' save-and-load checks share: one module's parameters and buffers written through
// LibTorch's archive and read into another module of the same plugin.
#pragma once

#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <sstream>

namespace mmsr::test {

inline void copy_through_archive(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::serialize::OutputArchive out;
  from.save(out);
  std::stringstream buffer;
  out.save_to(buffer);
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  to.load(in);
}

}  // namespace mmsr::test
