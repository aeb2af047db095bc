#include "data_parallel.h"

#include <torch/utils.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "mmsr/errors.h"

#ifdef MMSR_HAVE_GLOO
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

namespace mmsr {

#ifdef MMSR_HAVE_GLOO

bool data_parallel_available() { return true; }

namespace {

// A collective fails when another process of the group died or stopped: say so, with the transport's first line
// (LibTorch appends a stack trace).
template <typename Collective>
void collective(const char* what, int rank, Collective&& run) {
  try {
    run();
  } catch (const std::exception& e) {
    std::string reason = e.what();
    reason = reason.substr(0, reason.find('\n'));
    throw std::runtime_error(std::string("data-parallel ") + what + " failed in training process " +
                             std::to_string(rank) + ": another process of the run stopped or died (" + reason + ")");
  }
}

}  // namespace

struct DataParallelGroup::Impl {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

DataParallelGroup::DataParallelGroup(const std::string& rendezvous_file, int rank, int world)
    : impl_(std::make_unique<Impl>()), rank_(rank), world_(world) {
  auto store = c10::make_intrusive<c10d::FileStore>(rendezvous_file, world);
  // Joining: every process loads the data and builds the model first; one that died before joining is noticed
  // only by this timeout.
  auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::minutes(10));
  options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  collective("rendezvous", rank, [&] {
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
  });
  // Training: processes wait for rank 0 while it evaluates on the validation split. A process that dies closes
  // its connections, which the others see at once, so this long timeout only bounds a hung process.
  impl_->group->setTimeout(std::chrono::hours(3));
}

DataParallelGroup::~DataParallelGroup() = default;

void DataParallelGroup::sum(torch::Tensor& flat) {
  collective("all-reduce", rank_, [&] {
    std::vector<torch::Tensor> tensors = {flat};
    impl_->group->allreduce(tensors)->wait();
  });
}

void DataParallelGroup::broadcast(std::vector<torch::Tensor>& tensors) {
  collective("broadcast", rank_, [&] {
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one = {t};
      impl_->group->broadcast(one)->wait();
    }
  });
}

#else

bool data_parallel_available() { return false; }

struct DataParallelGroup::Impl {};

DataParallelGroup::DataParallelGroup(const std::string&, int rank, int world) : rank_(rank), world_(world) {
  throw InputError("[train].processes > 1: this build of mmsr has no Gloo (data-parallel training); install "
                   "Debian's libgloo-dev (scripts/setup.sh does) and rebuild");
}

DataParallelGroup::~DataParallelGroup() = default;
void DataParallelGroup::sum(torch::Tensor&) {}
void DataParallelGroup::broadcast(std::vector<torch::Tensor>&) {}

#endif

// A process's share of a batch [begin, end) in data-parallel training: contiguous and as even as the sizes allow.
std::pair<size_t, size_t> share_of(size_t begin, size_t end, int rank, int world) {
  const size_t n = end - begin;
  return {begin + n * size_t(rank) / size_t(world), begin + n * size_t(rank + 1) / size_t(world)};
}

// What a data-parallel step sums over the processes, in one buffer (one all-reduce per step): whether any process
// was interrupted, the number of training targets w of each process's share, w times its loss and loss terms,
// whether each parameter got a gradient, and w times each gradient. Dividing the sums by the total w gives the
// gradient and loss of the whole batch for losses that average over their targets, as one process would compute
// them (docs/scale.md); a process whose share is empty contributes w = 0.
StepSums sum_over_processes(DataParallelGroup& group, std::vector<torch::Tensor>& params, bool interrupted,
                            double weight, double loss, const std::vector<double>& terms, const torch::Device& device) {
  const size_t n_terms = terms.size();
  std::vector<torch::Tensor> parts;
  parts.reserve(params.size() + 1);
  std::vector<float> head = {interrupted ? 1.f : 0.f, float(weight), float(weight * loss)};
  for (double term : terms) head.push_back(float(weight * term));
  for (const auto& p : params) head.push_back(p.grad().defined() && weight > 0 ? 1.f : 0.f);
  parts.push_back(torch::tensor(head, torch::kFloat).to(device));
  for (const auto& p : params) {
    const auto& g = p.grad();
    if (g.defined() && weight > 0) parts.push_back((g.is_sparse() ? g.to_dense() : g).flatten().to(torch::kFloat) * weight);
    else parts.push_back(torch::zeros({p.numel()}, p.options().dtype(torch::kFloat)));
  }
  torch::Tensor flat = torch::cat(parts);
  group.sum(flat);
  torch::Tensor head_sum = flat.slice(0, 0, int64_t(head.size())).cpu();
  const float* h = head_sum.data_ptr<float>();
  StepSums out;
  out.interrupted = h[0] > 0;
  const double total = std::max<double>(h[1], 1e-12);
  out.loss = h[2] / total;
  for (size_t i = 0; i < n_terms; ++i) out.terms.push_back(h[3 + i] / total);
  int64_t offset = int64_t(head.size());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    const int64_t n = p.numel();
    // A gradient of its own (not a view into the buffer), as the optimizer's zero_grad expects.
    if (h[3 + n_terms + i] > 0) p.mutable_grad() = (flat.slice(0, offset, offset + n) / total).view_as(p).to(p.dtype()).clone();
    else p.mutable_grad() = torch::Tensor();
    offset += n;
  }
  return out;
}

}  // namespace mmsr
