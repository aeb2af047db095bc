// Peak memory of KDSR's correlation loss at several catalogue sizes (docs/kdsr.md): the released code precomputes
// an N x N matrix of teacher similarities and one of correlation codes per modality; mmsr computes both for the
// pairs of each batch only, so the loss's memory must not grow with N.
//
//   build/bin/mmsr_correlation_memory [N ...]        (default: 10000 100000)
//
// Each size runs in a fresh child process: build the loss (its k-means over sampled pairs) and take 5 training
// steps (forward and backward) on batches of 128 sequences of 50 items drawn from the catalogue. Features are a
// deterministic function of the item id, computed when gathered, so nothing of size N exists outside the loss. The
// figure is the child's peak resident memory above its resident memory just before the loss was built.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "mmsr/registry.h"
#include "mmsr/sdk/context.h"
#include "mmsr/sdk/modules.h"

namespace {

constexpr int64_t kDim = 512, kBatch = 128, kLen = 50, kSteps = 5;

long resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> value;
      return value;
    }
    status.ignore(1 << 12, '\n');
  }
  return 0;
}

// Item i's feature row: a fixed pseudo-random function of i (a per-item seeded generator).
mmsr::ModalityFeatures features_of(const torch::Tensor& ids) {
  auto out = torch::empty({ids.size(0), kDim});
  auto id = ids.accessor<int64_t, 1>();
  for (int64_t r = 0; r < ids.size(0); ++r) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(id[r]) * 2654435761u + 17);
    out[r] = torch::randn({kDim}, gen);
  }
  return {out, torch::ones({ids.size(0)}, torch::kBool)};
}

long measure(const mmsr::PluginRegistry& registry, int64_t items) {
  torch::set_num_threads(1);
  mmsr::BuildContext ctx;
  ctx.num_items = items;
  ctx.max_len = kLen;
  ctx.modalities = {{"image", true, 1, kDim}};
  ctx.gather = [](const std::string&, const torch::Tensor& ids) { return features_of(ids); };
  const mmsr::ComponentEntry* e = registry.find(mmsr::PluginKind::Objective, "correlation");
  if (!e) throw std::runtime_error("the correlation plugin is not in the plugin directory");
  torch::manual_seed(1);
  const long before = resident_kib();
  auto loss = e->make_objective(mmsr::ParamSet::resolve(e->params, {{"modality", std::string("image")}}), ctx);
  for (int64_t step = 0; step < kSteps; ++step) {
    mmsr::Batch b;
    b.items = torch::randint(1, items + 1, {kBatch, kLen}, torch::kLong);
    b.targets = torch::randint(1, items + 1, {kBatch, kLen}, torch::kLong);
    b.valid = b.items.ne(0);
    b.users = torch::arange(kBatch);
    auto both = torch::cat({b.items.reshape({-1}), b.targets.reshape({-1})});
    auto [unique, inverse, counts] = at::_unique2(both, true, true);
    b.unique_items = unique;
    b.item_index = inverse.slice(0, 0, kBatch * kLen).reshape({kBatch, kLen});
    b.target_index = inverse.slice(0, kBatch * kLen).reshape({kBatch, kLen});
    b.features["image"] = features_of(unique);
    auto adapted = b.features["image"].values.clone().requires_grad_(true);
    b.features[mmsr::adapted_key("image")] = {adapted, b.features["image"].mask};
    mmsr::ForwardOutput out;
    out.batch = &b;
    loss->compute(out).total.backward();
  }
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss - before;  // KiB
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {10000, 100000};
  mmsr::PluginRegistry registry;
  registry.load_directory(MMSR_PLUGIN_DIR);
  std::printf("%10s %16s %26s\n", "items", "loss peak (MB)", "dense N x N, as released (MB)");
  for (int64_t n : sizes) {
    int fd[2];
    if (pipe(fd) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      long kib = -1;
      try {
        kib = measure(registry, n);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
      }
      (void)!write(fd[1], &kib, sizeof kib);
      _exit(kib < 0);
    }
    long kib = -1;
    (void)!read(fd[0], &kib, sizeof kib);
    int status = 0;
    waitpid(pid, &status, 0);
    if (kib < 0) return 1;
    // The released code: a float similarity matrix (from sklearn, float64 before the tensor) and an int64 code
    // matrix per modality, N x N each.
    const double dense_mb = double(n) * double(n) * (8.0 + 8.0) / 1e6;
    std::printf("%10lld %16.1f %26.0f\n", static_cast<long long>(n), double(kib) / 1024.0, dense_mb);
  }
  return 0;
}
