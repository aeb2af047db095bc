#include "device.h"

#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <torch/cuda.h>

#include "mmsr/engine.h"
#include "mmsr/errors.h"

namespace mmsr {

bool cuda_available() { return torch::cuda::is_available(); }

std::string cpu_capability() { return at::get_cpu_capability(); }

std::string resolve_device(const std::string& requested) {
  if (requested == "auto") return torch::cuda::is_available() ? "cuda:0" : "cpu";
  if (requested == "cpu") return "cpu";
  if (requested == "cuda" || requested.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw InputError("[train].device = \"" + requested +
                       "\": no CUDA device is available here; use \"auto\" or \"cpu\"");
    std::string d = requested == "cuda" ? "cuda:0" : requested;
    try {
      torch::Device dev(d);
      if (dev.index() >= int(torch::cuda::device_count()))
        throw InputError("[train].device = \"" + requested + "\": only " +
                         std::to_string(torch::cuda::device_count()) + " CUDA device(s) here");
    } catch (const c10::Error&) {
      throw InputError("[train].device = \"" + requested + "\": not a device name (cpu, cuda, cuda:N)");
    }
    return d;
  }
  throw InputError("[train].device = \"" + requested + "\": use auto, cpu, cuda or cuda:N");
}

torch::Device process_device(const std::string& resolved, int rank, int64_t processes) {
  torch::Device device(resolved);
  if (!device.is_cuda() || processes == 1) return device;
  const int first = device.index() < 0 ? 0 : int(device.index());
  if (first + int(processes) > int(torch::cuda::device_count()))
    throw InputError("[train].processes = " + std::to_string(processes) + " on " + resolved +
                     " needs CUDA devices up to cuda:" + std::to_string(first + int(processes) - 1) + "; only " +
                     std::to_string(torch::cuda::device_count()) + " here");
  return torch::Device(torch::kCUDA, c10::DeviceIndex(first + rank));
}

BfloatAutocast::BfloatAutocast(bool on) : on_(on) {
  if (!on_) return;
  previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::increment_nesting();
}

BfloatAutocast::~BfloatAutocast() {
  if (!on_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(at::kCUDA, previous_);
}

}  // namespace mmsr
