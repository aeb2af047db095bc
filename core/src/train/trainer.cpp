// One run: build the model from plugins, train with early stopping on the validation metric, restore the best
// epoch, and evaluate it under the experiment's protocol (full ranking, count-based ranks).
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "mmsr/engine.h"
#include "mmsr/sdk/dropout.h"
#include "mmsr/errors.h"
#include "mmsr/interrupt.h"
#include "mmsr/readers.h"
#include "mmsr/rng.h"
#include "checkpoint.h"
#include "data_parallel.h"
#include "model.h"

namespace mmsr {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// The epoch's batches as [begin, end) ranges of `samples`, which is reordered in place. With length
// bucketing, windows of 64 batches are sorted by sample length so each batch is narrow, then the batch order
// is shuffled; without it, a plain shuffle.
std::vector<std::pair<size_t, size_t>> epoch_batches(std::vector<BatchBuilder::Sample>& samples,
                                                     size_t batch_size, bool bucket, uint64_t seed) {
  SplitMix64 rng(seed);  // the data order depends only on the seed and the epoch, not on torch
  rng.shuffle(samples);
  std::vector<std::pair<size_t, size_t>> batches;
  for (size_t b = 0; b < samples.size(); b += batch_size)
    batches.emplace_back(b, std::min(samples.size(), b + batch_size));
  if (bucket) {
    const size_t window = batch_size * 64;
    for (size_t w = 0; w < samples.size(); w += window)
      std::stable_sort(samples.begin() + long(w), samples.begin() + long(std::min(samples.size(), w + window)),
                       [](const BatchBuilder::Sample& a, const BatchBuilder::Sample& b) { return a.end < b.end; });
    rng.shuffle(batches);
  }
  return batches;
}

// Users per evaluation batch: as given, or (0) as many as keep a batch's [users, items] scores within 8 MB on the
// CPU, where the comparisons that count ranks then run in cache (docs/performance.md); 1024 on a GPU.
int64_t evaluation_batch_size(int64_t given, int64_t num_items, const torch::Device& device) {
  if (given > 0) return given;
  if (!device.is_cpu()) return 1024;
  return std::clamp<int64_t>((int64_t(8) << 20) / (4 * (num_items + 1)), 16, 4096);
}

struct SplitEvaluation {
  // Per branch (and "fused" when there are several): per-user ranks and tie counts, in user order.
  std::vector<std::string> names;
  std::vector<std::vector<double>> ranks;
  std::vector<std::vector<int64_t>> ties;
};

class Evaluator {
 public:
  Evaluator(const ParamSet& protocol, const LeaveOneOutSplit& split, const BatchBuilder& builder,
            int64_t batch_size, torch::Device device, const std::vector<std::vector<int32_t>>* negatives)
      : split_(split), builder_(builder), batch_size_(batch_size), device_(device), negatives_(negatives),
        mask_history_(protocol.get_bool("mask_history")),
        tie_rule_(parse_tie_rule(protocol.get_string("ties"))) {
    // Users in order of input length: batches of similar lengths are narrow (see BatchBuilder). Ranks are
    // written back by user index, so the order changes no number.
    for (int64_t u = 0; u < split.num_users(); ++u) users_.push_back(int32_t(u));
    for (bool test : {false, true}) {
      auto& order = order_[test];
      order = users_;
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return split.input_length(a, test) < split.input_length(b, test);
      });
    }
  }

  SplitEvaluation run(AssembledModel& model, bool test) {
    torch::NoGradGuard no_grad;
    model.eval();
    std::vector<torch::Tensor> tables = model.all_item_vectors();  // once per evaluation
    const size_t nb = model.num_branches();
    SplitEvaluation out;
    out.names = model.branch_names();
    if (nb > 1) out.names.push_back("fused");
    out.ranks.assign(out.names.size(), std::vector<double>(users_.size(), 0.0));
    out.ties.assign(out.names.size(), std::vector<int64_t>(users_.size(), 0));
    const auto& order = order_[test];
    const int64_t n_items = split_.num_items();
    for (size_t begin = 0; begin < users_.size(); begin += size_t(batch_size_)) {
      size_t end = std::min(users_.size(), begin + size_t(batch_size_));
      Batch batch = to_device(builder_.evaluation_batch(order, begin, end, test), device_);
      std::vector<torch::Tensor> states = model.last_states(batch, tables);
      torch::Tensor candidates = candidate_mask(order, begin, end, test, n_items);
      torch::Tensor target = batch.targets.select(1, batch.targets.size(1) - 1).unsqueeze(1);
      torch::Tensor fused;
      for (size_t b = 0; b <= nb; ++b) {
        if (b == nb && nb == 1) break;
        torch::Tensor scores;
        if (b < nb) {
          scores = model.tower().score(b, states[b], tables[b]).to(torch::kFloat);
          fused = fused.defined() ? fused + scores : scores.clone();
        } else {
          scores = fused / double(nb);
        }
        collect(scores, candidates, target, order, begin, out.ranks[b], out.ties[b]);
      }
    }
    model.train();
    return out;
  }

 private:
  // [B, N+1] bool: true for items that compete with the target. Padding never does; the user's history
  // does not when masking is on (except the target itself, which may be a repeat). Under sampled evaluation
  // only the user's negatives do.
  torch::Tensor candidate_mask(const std::vector<int32_t>& order, size_t begin, size_t end, bool test,
                               int64_t n_items) {
    const int64_t B = int64_t(end - begin);
    auto mask = torch::ones({B, n_items + 1}, torch::kBool);
    auto* m = mask.data_ptr<bool>();
    for (int64_t r = 0; r < B; ++r) {
      bool* row = m + r * (n_items + 1);
      row[0] = false;
      int32_t u = order[begin + size_t(r)];
      if (negatives_) {
        std::fill(row, row + n_items + 1, false);
        for (int32_t i : (*negatives_)[size_t(u)]) row[i] = true;
      } else if (mask_history_) {
        const int32_t* h = split_.history(u);
        for (int64_t j = 0, n = split_.input_length(u, test); j < n; ++j) row[h[j]] = false;
      }
      row[split_.target(u, test)] = true;
    }
    return mask.to(device_);
  }

  void collect(torch::Tensor scores, const torch::Tensor& candidates, const torch::Tensor& target,
               const std::vector<int32_t>& order, size_t begin, std::vector<double>& ranks,
               std::vector<int64_t>& ties) {
    auto [higher_on_device, equal_on_device] = higher_and_tied(scores, candidates, target);
    torch::Tensor higher = higher_on_device.cpu(), equal = equal_on_device.cpu();
    auto* hp = higher.data_ptr<int64_t>();
    auto* ep = equal.data_ptr<int64_t>();
    for (int64_t i = 0; i < higher.size(0); ++i) {
      size_t u = size_t(order[begin + size_t(i)]);
      ranks[u] = rank_from_counts(hp[i], ep[i], tie_rule_);
      ties[u] = ep[i];
    }
  }

  const LeaveOneOutSplit& split_;
  const BatchBuilder& builder_;
  int64_t batch_size_;
  torch::Device device_;
  const std::vector<std::vector<int32_t>>* negatives_;  // sampled evaluation, else null
  bool mask_history_;
  TieRule tie_rule_;
  std::vector<int32_t> users_;
  std::vector<int32_t> order_[2];  // evaluation order for validation [0] and test [1]
};

std::vector<MetricValue> branch_metrics(const Experiment& ex, const std::vector<double>& ranks) {
  return compute_metrics(ranks, ex.protocol.get_string_list("metrics"), ex.protocol.get_int_list("ks"));
}

// The selection score of an evaluation: the fused score's (or the only branch's) validation metric.
double selection_value(const Experiment& ex, const SplitEvaluation& e) {
  return metric_value(branch_metrics(ex, e.ranks.back()), ex.protocol.get_string("select"));
}

// Metrics and per-user ranks of the validation and test evaluations of the selected model.
void record_evaluations(const Experiment& ex, const SplitEvaluation& valid, const SplitEvaluation& test,
                        std::vector<MetricRecord>& metrics, std::vector<RankRecord>& ranks) {
  for (const auto* e : {&valid, &test}) {
    const std::string split_name = e == &valid ? "valid" : "test";
    for (size_t b = 0; b < e->names.size(); ++b) {
      // Single-branch models record their only branch as "fused": the score the leaderboard ranks by.
      std::string branch = e->names.size() == 1 ? "fused" : e->names[b];
      for (const auto& m : branch_metrics(ex, e->ranks[b])) metrics.push_back({split_name, branch, m.name, m.k, m.value});
      int64_t tied = 0;
      for (int64_t t : e->ties[b]) tied += t > 0;
      metrics.push_back({split_name, branch, "tied_share", 0,
                         e->ties[b].empty() ? 0.0 : double(tied) / double(e->ties[b].size())});
      for (size_t u = 0; u < e->ranks[b].size(); ++u)
        ranks.push_back({split_name, branch, int64_t(u), e->ranks[b][u], e->ties[b][u]});
    }
  }
}

// Each user's popularity group of its test target (ODMT's Figure 4): 0 when the item never occurs in training;
// otherwise the items seen in training, ordered by training count (then id), cut into `groups` parts of equal
// item counts, 1 = least popular.
std::vector<int64_t> popularity_groups(const LeaveOneOutSplit& split, int64_t groups) {
  const auto& counts = split.item_counts();
  std::vector<int32_t> seen;
  for (size_t i = 1; i < counts.size(); ++i)
    if (counts[i] > 0) seen.push_back(int32_t(i));
  std::stable_sort(seen.begin(), seen.end(), [&](int32_t a, int32_t b) { return counts[a] < counts[b]; });
  std::vector<int64_t> group_of_item(counts.size(), 0);
  for (size_t r = 0; r < seen.size(); ++r) group_of_item[size_t(seen[r])] = 1 + int64_t(r) * groups / int64_t(seen.size());
  std::vector<int64_t> out;
  for (int64_t u = 0; u < split.num_users(); ++u) out.push_back(group_of_item[size_t(split.target(u, true))]);
  return out;
}

// Test metrics per popularity group and branch.
void record_group_metrics(const Experiment& ex, const SplitEvaluation& test, const std::vector<int64_t>& group_of_user,
                          std::vector<GroupMetricRecord>& out) {
  if (ex.popularity_groups <= 0) return;
  for (size_t b = 0; b < test.names.size(); ++b) {
    const std::string branch = test.names.size() == 1 ? "fused" : test.names[b];
    for (int64_t g = 0; g <= ex.popularity_groups; ++g) {
      std::vector<double> ranks;
      for (size_t u = 0; u < group_of_user.size(); ++u)
        if (group_of_user[u] == g) ranks.push_back(test.ranks[b][u]);
      if (ranks.empty()) continue;
      for (const auto& m : branch_metrics(ex, ranks))
        out.push_back({"test", branch, g, m.name, m.k, m.value, int64_t(ranks.size())});
    }
  }
}

// What every plugin factory of a run is told about the data.
BuildContext build_context(const Experiment& ex, const RunSpec& run, const Dataset& data,
                           const LeaveOneOutSplit& split) {
  BuildContext context;
  context.num_items = data.num_items();
  context.max_len = ex.protocol.get_int("max_len");
  context.seed = run.seed;
  context.item_counts = &split.item_counts();
  context.valid_target_counts = &split.valid_target_counts();
  context.item_attributes = &data.attributes;
  context.modalities = modality_infos(data.modalities.get());
  context.gather = feature_gather(data.modalities.get());
  return context;
}

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
struct StepSums {
  bool interrupted = false;
  double loss = 0;
  std::vector<double> terms;
};

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

// A process's device: the configured one on the CPU; on CUDA, one device per process from the configured index.
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

}  // namespace

std::vector<std::vector<int32_t>> sampled_negatives(const ParamSet& protocol, const std::string& base_dir,
                                                    const Dataset& data) {
  if (protocol.get_string("candidates") != "sampled") return {};
  const int64_t count = protocol.get_int("negatives");
  const std::string& file = protocol.get_string("negatives_file");
  if (file.empty()) return draw_negatives(data, count, uint64_t(protocol.get_int("negatives_seed")));
  std::filesystem::path p(file);
  if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
  return read_negatives(p.lexically_normal().string(), data, count);
}

bool cuda_available() { return torch::cuda::is_available(); }

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

void check_buildable(const Experiment& ex, const RunSpec& run, const Dataset& data,
                     const LeaveOneOutSplit& split, const PluginRegistry& registry) {
  BuildContext context = build_context(ex, run, data, split);
  const std::string model_label = ex.file + ": model '" + run.model_name + "'" +
                                  (run.grid_label.empty() ? "" : " (" + run.grid_label + ")");
  std::optional<AssembledModel> model;
  try {
    model.emplace(run, registry, context);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(model_label + " cannot be built: " + e.what());
  }
  if (const int64_t processes = run.train.get_int("processes"); processes > 1) {
    if (!data_parallel_available())
      throw InputError(model_label + ": [train].processes = " + std::to_string(processes) +
                       " needs data-parallel training, which this build lacks (Gloo's headers: Debian's libgloo-dev, "
                       "which scripts/setup.sh installs; then rebuild)");
    process_device(resolve_device(run.train.get_string("device")), int(processes - 1), processes);
  }
  if (model->trainable() && model->num_objectives() == 0)
    throw InputError(model_label + " has parameters to train but no loss: add loss = \"softmax\" (or another "
                     "loss plugin, see `mmsr plugins`)");
}

// bfloat16 autocast on CUDA for the scope's forward pass (nothing when off).
class BfloatAutocast {
 public:
  explicit BfloatAutocast(bool on) : on_(on) {
    if (!on_) return;
    previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::increment_nesting();
  }
  ~BfloatAutocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(at::kCUDA, previous_);
  }
  BfloatAutocast(const BfloatAutocast&) = delete;
  BfloatAutocast& operator=(const BfloatAutocast&) = delete;

 private:
  bool on_, previous_ = false;
};

// Seconds from the start of the mmsr command (MMSR_COMMAND_START, set by the command and inherited by a run's own
// process; steady clock, comparable across processes of one machine) to this run's first training step.
static void record_time_to_first_step(RunOutcome& outcome) {
  const char* start = std::getenv("MMSR_COMMAND_START");
  if (!start) return;
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  const double seconds = double(now - std::strtoll(start, nullptr, 10)) *
                         double(std::chrono::steady_clock::period::num) / double(std::chrono::steady_clock::period::den);
  outcome.timings.push_back({"to_first_step", seconds, peak_rss_mb()});
}

RunOutcome train_and_evaluate(const Experiment& ex, const RunSpec& run, const Dataset& data,
                              const LeaveOneOutSplit& split, const PluginRegistry& registry,
                              const RunCallbacks& callbacks) {
  const auto run_start = Clock::now();
  RunOutcome outcome;
  const ParamSet& train = run.train;
  const int64_t processes = train.get_int("processes");
  const int rank = callbacks.data_parallel_rank;
  int64_t threads = train.get_int("threads");
  if (threads == 0) threads = std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()) / processes);
  at::set_num_threads(int(threads));  // LibTorch starts with one intra-op thread here otherwise
  set_fast_dropout(train.has("fast_dropout") && train.get_bool("fast_dropout"));
  outcome.device = resolve_device(train.get_string("device"));
  const torch::Device device = process_device(outcome.device, rank, processes);
  // bf16 autocast is a CUDA feature here; on the CPU the run stays fp32 (its record names the device).
  const bool bf16 = device.is_cuda() && train.has("precision") && train.get_string("precision") == "bf16";

  torch::manual_seed(run.seed);
  if (device.is_cuda()) torch::cuda::manual_seed_all(run.seed);

  const int64_t max_len = ex.protocol.get_int("max_len");
  BuildContext context = build_context(ex, run, data, split);

  auto t0 = Clock::now();
  auto model = std::make_shared<AssembledModel>(run, registry, context);
  model->to(device);
  // A model with nothing to learn (a popularity baseline) is evaluated as built: no epochs, best epoch 0.
  const bool trainable = model->trainable();
  std::vector<OptimizerGroupRequest> groups;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (trainable) optimizer = make_optimizer(*model, train, groups);
  outcome.timings.push_back({"build", since(t0), peak_rss_mb()});

  // log pop(j) of the training split, for popularity-corrected losses.
  auto counts = torch::tensor(split.item_counts(), torch::kLong).to(torch::kDouble);
  double total = counts.sum().item<double>();
  auto log_pop = torch::where(counts.gt(0), (counts / total).log(), torch::zeros_like(counts))
                     .to(torch::kFloat)
                     .to(device);

  BatchBuilder builder(split, max_len);
  builder.set_features(model->modalities(), context.gather);
  const bool prefix = ex.protocol.get_string("train_samples") == "prefix";
  auto samples = builder.training_samples(prefix);
  const int64_t batch_size = train.get_int("batch_size");
  const int64_t steps_per_epoch = (int64_t(samples.size()) + batch_size - 1) / batch_size;
  const int64_t max_epochs = trainable ? train.get_int("epochs") : 0, patience = train.get_int("patience");
  const int64_t eval_every = train.get_int("eval_every");
  const bool bucket = train.get_bool("length_buckets");
  const double clip = train.get_double("clip_norm"), lr = train.get_double("lr");
  std::vector<std::vector<int32_t>> negatives = sampled_negatives(ex.protocol, ex.base_dir, data);
  const int64_t eval_batch = evaluation_batch_size(train.get_int("eval_batch_size"), split.num_items(), device);
  Evaluator evaluator(ex.protocol, split, builder, eval_batch, device,
                      negatives.empty() ? nullptr : &negatives);

  TrainingState st;
  std::vector<torch::Tensor> best_state;
  const std::string& checkpoint = callbacks.checkpoint_path;
  if (trainable) {
    // Only rank 0 sets a damaged checkpoint aside; the other processes of a data-parallel run read the same files.
    const bool aside = rank == 0;
    const bool any = std::filesystem::exists(checkpoint) || std::filesystem::exists(checkpoint + ".prev");
    auto warn = aside ? callbacks.on_warning : std::function<void(const std::string&)>();
    if (load_checkpoint(checkpoint, *model, *optimizer, st, best_state, device, aside, warn)) {
      // Replay the data order of the epochs already trained (each epoch shuffles the previous order).
      for (int64_t e = 1; e <= st.epoch; ++e)
        epoch_batches(samples, size_t(batch_size), bucket, run.seed * 1000003ull + uint64_t(e));
    } else if (any && warn) {
      warn("no intact checkpoint is left: the run starts again from its first epoch");
    }
    if (callbacks.on_resume) callbacks.on_resume(st.epoch);
  }
  // Data-parallel: every process built the same model from the seed and read the same checkpoint; rank 0's
  // weights are broadcast all the same, so that the processes start from one state whatever a plugin did.
  std::unique_ptr<DataParallelGroup> group;
  std::vector<torch::Tensor> params = model->parameters();
  if (processes > 1 && trainable) {
    if (callbacks.rendezvous_file.empty())
      throw InputError("[train].processes > 1: the run's other processes were not started (run it with `mmsr run`)");
    group = std::make_unique<DataParallelGroup>(callbacks.rendezvous_file, rank, int(processes));
    std::vector<torch::Tensor> state;
    {
      torch::NoGradGuard no_grad;
      for (auto& p : params) state.push_back(p.detach());
      for (auto& b : model->buffers()) state.push_back(b.detach());
    }
    group->broadcast(state);
  }
  auto end_with = [&](const std::string& status, const std::string& error) {
    outcome.status = status;
    outcome.error = error;
    outcome.timings.push_back({"total", since(run_start), peak_rss_mb()});
    return outcome;
  };
  model->train();
  for (int64_t epoch = st.epoch + 1; epoch <= max_epochs && !st.stopped; ++epoch) {
    auto epoch_start = Clock::now();
    apply_schedules(*optimizer, groups, lr, epoch);
    // Each process draws its own dropout masks and sampled negatives: a stream per (seed, epoch, rank), so that a
    // resumed run continues exactly without storing every process's generator.
    if (group) torch::manual_seed(run.seed * 1000003ull + uint64_t(epoch) * 7919ull + uint64_t(rank));
    auto batches = epoch_batches(samples, size_t(batch_size), bucket, run.seed * 1000003ull + uint64_t(epoch));
    double loss_sum = 0;
    std::vector<std::pair<std::string, double>> term_sums;
    for (int64_t s = 0; s < steps_per_epoch; ++s, ++st.step) {
      const auto interrupted_at = [&] {
        return end_with("interrupted", "stopped by a signal at epoch " + std::to_string(epoch) + ", step " +
                                           std::to_string(s + 1));
      };
      // With several processes, an interrupt travels with the step's sums so that all of them stop together.
      if (!group && interrupt_requested()) return interrupted_at();
      if (s == 0 && epoch == st.epoch + 1) record_time_to_first_step(outcome);
      auto [begin, end] = batches[size_t(s)];
      double weight = 1;
      if (group) {
        std::tie(begin, end) = share_of(begin, end, rank, int(processes));
        // An empty share still runs a forward pass (on one sample, weighted 0) so every process sums the same terms.
        if (end == begin) weight = 0, end = begin + 1;
      }
      Batch batch = to_device(builder.training_batch(samples, begin, end, prefix), device);
      LossTerms loss;
      {
        BfloatAutocast autocast(bf16);  // the forward pass only; backward follows the recorded dtypes
        loss = model->loss(batch, log_pop, {epoch, max_epochs, st.step});
      }
      optimizer->zero_grad();
      loss.total.backward();
      double value = loss.total.item<double>();
      std::vector<double> term_values;
      for (auto& [n, v] : loss.terms) term_values.push_back(v.item<double>());
      if (group) {
        if (weight > 0) weight = double(batch.targets.gt(0).sum().item<int64_t>());
        StepSums sums = sum_over_processes(*group, params, interrupt_requested(), weight, value, term_values, device);
        if (sums.interrupted) return interrupted_at();
        value = sums.loss;
        term_values = sums.terms;
      }
      if (clip > 0) torch::nn::utils::clip_grad_norm_(params, clip);
      optimizer->step();
      if (!std::isfinite(value))
        return end_with("diverged", "loss is " + std::to_string(value) + " at epoch " + std::to_string(epoch) +
                                        ", step " + std::to_string(s + 1));
      loss_sum += value;
      if (term_sums.empty())
        for (auto& [n, v] : loss.terms) term_sums.emplace_back(n, 0.0);
      for (size_t i = 0; i < term_values.size() && i < term_sums.size(); ++i) term_sums[i].second += term_values[i];
      if (callbacks.on_step) callbacks.on_step({epoch, max_epochs, s + 1, steps_per_epoch, value});
    }
    st.train_seconds += since(epoch_start);
    EpochReport report;
    report.epoch = epoch;
    report.loss = loss_sum / double(std::max<int64_t>(1, steps_per_epoch));
    for (auto& [n, v] : term_sums) report.terms.emplace_back(n, v / double(steps_per_epoch));
    if (rank == 0 && (epoch % eval_every == 0 || epoch == max_epochs)) {
      auto ve = Clock::now();
      SplitEvaluation valid = evaluator.run(*model, false);
      st.valid_seconds += since(ve);
      report.valid = branch_metrics(ex, valid.ranks.back());
      double value = selection_value(ex, valid);
      if (value > st.best) {
        st.best = value;
        st.best_epoch = epoch;
        best_state = snapshot(*model);
        st.bad_evals = 0;
        report.improved = true;
      } else if (patience > 0 && ++st.bad_evals >= patience) {
        st.stopped = true;
      }
    }
    st.epoch = epoch;
    report.seconds = since(epoch_start);
    // The epoch is recorded before its checkpoint is written: a kill in between redoes the epoch on resume
    // (its record is replaced), never leaves a checkpoint ahead of the records.
    if (callbacks.on_epoch) callbacks.on_epoch(report);
    if (!checkpoint.empty() && rank == 0) save_checkpoint(checkpoint, *model, *optimizer, st, best_state);
    if (group) {
      // Rank 0 decides early stopping; the others wait here while it evaluates.
      auto stop = torch::tensor({rank == 0 && st.stopped ? 1.f : 0.f}).to(device);
      group->sum(stop);
      st.stopped = stop.item<float>() > 0;
    }
  }
  if (rank > 0) return end_with("finished", "");  // the other processes only train
  const double train_seconds = st.train_seconds, valid_seconds = st.valid_seconds;
  const int64_t best_epoch = st.best_epoch;
  outcome.timings.push_back({"train", train_seconds, peak_rss_mb()});
  outcome.timings.push_back({"valid_eval", valid_seconds, peak_rss_mb()});

  // The reported test number is the selected (best-validation) epoch's, never the best test epoch.
  if (!best_state.empty()) restore(*model, best_state);
  outcome.best_epoch = best_epoch;
  auto te = Clock::now();
  const auto group_of_user = popularity_groups(split, std::max<int64_t>(1, ex.popularity_groups));
  {
    SplitEvaluation test = evaluator.run(*model, true);
    record_evaluations(ex, evaluator.run(*model, false), test, outcome.metrics, outcome.ranks);
    record_group_metrics(ex, test, group_of_user, outcome.group_metrics);
  }
  outcome.timings.push_back({"test_eval", since(te), peak_rss_mb()});
  // The same selected model under each [[also_evaluate]] protocol.
  for (const auto& variant : ex.also_evaluate) {
    auto ve = Clock::now();
    std::vector<std::vector<int32_t>> variant_negatives = sampled_negatives(variant.protocol, ex.base_dir, data);
    Evaluator variant_evaluator(variant.protocol, split, builder, eval_batch, device,
                                variant_negatives.empty() ? nullptr : &variant_negatives);
    VariantOutcome v;
    SplitEvaluation test = variant_evaluator.run(*model, true);
    record_evaluations(ex, variant_evaluator.run(*model, false), test, v.metrics, v.ranks);
    record_group_metrics(ex, test, group_of_user, v.group_metrics);
    v.test_eval_seconds = since(ve);
    outcome.variants.push_back(std::move(v));
  }
  outcome.timings.push_back({"total", since(run_start), peak_rss_mb()});
  return outcome;
}

}  // namespace mmsr
