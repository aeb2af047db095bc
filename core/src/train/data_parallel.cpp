#include "data_parallel.h"

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

}  // namespace mmsr
