// One run: build the model from plugins, train with early stopping on the validation metric, restore the best
// epoch, and hand it to the evaluator under the experiment's protocol and every [[also_evaluate]] one.
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/optimizer.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "eval/evaluate.h"
#include "mmsr/engine.h"
#include "mmsr/errors.h"
#include "mmsr/interrupt.h"
#include "mmsr/rng.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/device.h"
#include "train/optimizer.h"

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

// log pop(j) of the training split, for popularity-corrected losses.
torch::Tensor log_popularity(const std::vector<int64_t>& item_counts) {
  auto counts = torch::tensor(item_counts, torch::kLong).to(torch::kDouble);
  double total = counts.sum().item<double>();
  return torch::where(counts.gt(0), (counts / total).log(), torch::zeros_like(counts)).to(torch::kFloat);
}

// The loss of a few training samples, without gradients: plugins that accept their parameters one by one can
// still refuse each other (a loss naming a branch the item tower does not make), and that must be refused before
// the grid starts, not after a run's first epoch.
void probe_loss(AssembledModel& model, const Experiment& ex, const Split& split,
                const BuildContext& context, const std::string& model_label) {
  const ProtocolOptions protocol = protocol_options(ex.protocol);
  BatchBuilder builder(split, protocol.max_len);
  builder.set_features(model.modalities(), context.gather);
  const bool prefix = protocol.train_samples == "prefix";
  const std::vector<BatchBuilder::Sample> samples = builder.training_samples(prefix);
  if (samples.empty()) return;
  const Batch batch = builder.training_batch(samples, 0, std::min<size_t>(4, samples.size()), prefix);
  torch::NoGradGuard no_grad;
  try {
    model.loss(batch, log_popularity(split.item_counts()), {1, 1, 0});
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(model_label + " cannot train: " + e.what());
  }
}

}  // namespace

void check_buildable(const Experiment& ex, const RunSpec& run, const Dataset& data,
                     const Split& split, const PluginRegistry& registry) {
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
  const TrainOptions train = train_options(run.train);
  if (const int64_t processes = train.processes; processes > 1) {
    if (!data_parallel_available())
      throw InputError(model_label + ": [train].processes = " + std::to_string(processes) +
                       " needs data-parallel training, which this build lacks (Gloo's headers: Debian's libgloo-dev, "
                       "which scripts/setup.sh installs; then rebuild)");
    process_device(resolve_device(train.device), int(processes - 1), processes);
  }
  if (model->trainable() && model->num_objectives() == 0)
    throw InputError(model_label + " has parameters to train but no loss: add loss = \"softmax\" (or another "
                     "loss plugin, see `mmsr plugins`)");
  if (model->num_objectives() > 0) probe_loss(*model, ex, split, context, model_label);
}

namespace {

// Seconds from the run's launch (RunCallbacks::launched_at_ticks) to its first training step.
void record_time_to_first_step(int64_t launched_at_ticks, RunOutcome& outcome) {
  if (launched_at_ticks <= 0) return;
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  const double seconds = double(now - launched_at_ticks) *
                         double(std::chrono::steady_clock::period::num) / double(std::chrono::steady_clock::period::den);
  outcome.timings.push_back({"to_first_step", seconds, peak_rss_mb()});
}

// The seed of an epoch's data order: the order depends only on the run's seed and the epoch, never on torch.
uint64_t data_order_seed(uint64_t run_seed, int64_t epoch) { return run_seed * 1000003ull + uint64_t(epoch); }

// One run's training and evaluation, in the order the numbers depend on: threads and device, the seeded build,
// the training samples, a checkpoint to resume from, the data-parallel group, the epochs, the final evaluations.
class Training {
 public:
  Training(const Experiment& ex, const RunSpec& run, const Dataset& data, const Split& split,
           const PluginRegistry& registry, const RunCallbacks& callbacks)
      : ex_(ex), run_(run), data_(data), split_(split), callbacks_(callbacks), train_(train_options(run.train)),
        protocol_(protocol_options(ex.protocol)), processes_(train_.processes), rank_(callbacks.data_parallel_rank),
        builder_(split, protocol_.max_len) {
    set_up_process();
    build(registry);
  }

  RunOutcome run() {
    if (trainable_) resume_from_checkpoint();
    join_data_parallel_group();
    model_->train();
    for (int64_t epoch = st_.epoch + 1; epoch <= max_epochs_ && !st_.stopped; ++epoch)
      if (auto ended = train_epoch(epoch)) return end_with(ended->first, ended->second);
    if (rank_ > 0) return end_with("finished", "");  // the other processes only train
    evaluate_the_selected_epoch();
    outcome_.timings.push_back({"total", since(run_start_), peak_rss_mb()});
    return outcome_;
  }

 private:
  using Ending = std::optional<std::pair<std::string, std::string>>;  // status and error of a run that ends early

  void set_up_process() {
    int64_t threads = train_.threads;
    if (threads == 0) threads = std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()) / processes_);
    at::set_num_threads(int(threads));  // LibTorch starts with one intra-op thread here otherwise
    outcome_.device = resolve_device(train_.device);
    device_ = process_device(outcome_.device, rank_, processes_);
    // bf16 autocast is a CUDA feature here; on the CPU the run stays fp32 (its record names the device).
    bf16_ = device_.is_cuda() && train_.precision == "bf16";
  }

  void build(const PluginRegistry& registry) {
    torch::manual_seed(run_.seed);
    if (device_.is_cuda()) torch::cuda::manual_seed_all(run_.seed);
    BuildContext context = build_context(ex_, run_, data_, split_);
    auto t0 = Clock::now();
    model_ = std::make_shared<AssembledModel>(run_, registry, context);
    model_->to(device_);
    // A model with nothing to learn (a popularity baseline) is evaluated as built: no epochs, best epoch 0.
    trainable_ = model_->trainable();
    if (trainable_) optimizer_ = make_optimizer(*model_, run_.train, groups_);
    outcome_.timings.push_back({"build", since(t0), peak_rss_mb()});
    log_popularity_ = log_popularity(split_.item_counts()).to(device_);
    builder_.set_features(model_->modalities(), context.gather);
    prefix_ = protocol_.train_samples == "prefix";
    samples_ = builder_.training_samples(prefix_);
    batch_size_ = train_.batch_size;
    steps_per_epoch_ = (int64_t(samples_.size()) + batch_size_ - 1) / batch_size_;
    max_epochs_ = trainable_ ? train_.epochs : 0;
    eval_shape_ = evaluation_shape(train_.eval_batch_size, train_.eval_item_block, split_.num_items(), device_);
    evaluator_.emplace(ex_.protocol, split_, builder_, eval_shape_, device_,
                       sampled_negatives(ex_.protocol, ex_.base_dir, data_));
  }

  void resume_from_checkpoint() {
    const std::string& checkpoint = callbacks_.checkpoint_path;
    // Only rank 0 sets a damaged checkpoint aside; the other processes of a data-parallel run read the same files.
    const bool aside = rank_ == 0;
    const bool any = std::filesystem::exists(checkpoint) || std::filesystem::exists(checkpoint + ".prev");
    auto warn = aside ? callbacks_.on_warning : std::function<void(const std::string&)>();
    if (load_checkpoint(checkpoint, *model_, *optimizer_, st_, best_state_, device_, aside, warn)) {
      // Replay the data order of the epochs already trained (each epoch shuffles the previous order).
      for (int64_t e = 1; e <= st_.epoch; ++e) epoch_batches(e);
    } else if (any && warn) {
      warn("no intact checkpoint is left: the run starts again from its first epoch");
    }
    if (callbacks_.on_resume) callbacks_.on_resume(st_.epoch);
  }

  std::vector<std::pair<size_t, size_t>> epoch_batches(int64_t epoch) {
    return mmsr::epoch_batches(samples_, size_t(batch_size_), train_.length_buckets,
                               data_order_seed(run_.seed, epoch));
  }

  // Data-parallel: every process built the same model from the seed and read the same checkpoint; rank 0's
  // weights are broadcast all the same, so that the processes start from one state whatever a plugin did.
  void join_data_parallel_group() {
    params_ = model_->parameters();
    if (processes_ <= 1 || !trainable_) return;
    if (callbacks_.rendezvous_file.empty())
      throw InputError("[train].processes > 1: the run's other processes were not started (run it with `mmsr run`)");
    group_ = std::make_unique<DataParallelGroup>(callbacks_.rendezvous_file, rank_, int(processes_));
    std::vector<torch::Tensor> state;
    {
      torch::NoGradGuard no_grad;
      for (auto& p : params_) state.push_back(p.detach());
      for (auto& b : model_->buffers()) state.push_back(b.detach());
    }
    group_->broadcast(state);
  }

  // Sums of an epoch's step losses and loss terms.
  struct EpochSums {
    double loss = 0;
    std::vector<std::pair<std::string, double>> terms;
  };

  Ending train_epoch(int64_t epoch) {
    auto epoch_start = Clock::now();
    apply_schedules(*optimizer_, groups_, train_.lr, epoch);
    // Each process draws its own dropout masks and sampled negatives: a stream per (seed, epoch, rank), so that a
    // resumed run continues exactly without storing every process's generator.
    if (group_) torch::manual_seed(run_.seed * 1000003ull + uint64_t(epoch) * 7919ull + uint64_t(rank_));
    auto batches = epoch_batches(epoch);
    EpochSums sums;
    for (int64_t s = 0; s < steps_per_epoch_; ++s, ++st_.step)
      if (auto ended = train_step(epoch, s, batches[size_t(s)], sums)) return ended;
    st_.train_seconds += since(epoch_start);
    EpochReport report;
    report.epoch = epoch;
    report.loss = sums.loss / double(std::max<int64_t>(1, steps_per_epoch_));
    for (auto& [n, v] : sums.terms) report.terms.emplace_back(n, v / double(steps_per_epoch_));
    if (rank_ == 0 && (epoch % train_.eval_every == 0 || epoch == max_epochs_)) validate(epoch, report);
    st_.epoch = epoch;
    report.seconds = since(epoch_start);
    // The epoch is recorded before its checkpoint is written: a kill in between redoes the epoch on resume
    // (its record is replaced), never leaves a checkpoint ahead of the records.
    if (callbacks_.on_epoch) callbacks_.on_epoch(report);
    if (!callbacks_.checkpoint_path.empty() && rank_ == 0)
      save_checkpoint(callbacks_.checkpoint_path, *model_, *optimizer_, st_, best_state_);
    if (group_) agree_on_stopping();
    return std::nullopt;
  }

  Ending train_step(int64_t epoch, int64_t s, std::pair<size_t, size_t> range, EpochSums& sums) {
    const Ending interrupted{{"interrupted", "stopped by a signal at epoch " + std::to_string(epoch) + ", step " +
                                                 std::to_string(s + 1)}};
    // With several processes, an interrupt travels with the step's sums so that all of them stop together.
    if (!group_ && interrupt_requested()) return interrupted;
    // Once per process: the first step it takes (after a resume, the first of the resumed epoch).
    if (!first_step_taken_) record_time_to_first_step(callbacks_.launched_at_ticks, outcome_);
    first_step_taken_ = true;
    auto [begin, end] = range;
    double weight = 1;
    if (group_) {
      std::tie(begin, end) = share_of(begin, end, rank_, int(processes_));
      // An empty share still runs a forward pass (on one sample, weighted 0) so every process sums the same terms.
      if (end == begin) weight = 0, end = begin + 1;
    }
    Batch batch = to_device(builder_.training_batch(samples_, begin, end, prefix_), device_);
    LossTerms loss;
    {
      BfloatAutocast autocast(bf16_);  // the forward pass only; backward follows the recorded dtypes
      loss = model_->loss(batch, log_popularity_, {epoch, max_epochs_, st_.step});
    }
    optimizer_->zero_grad();
    loss.total.backward();
    double value = loss.total.item<double>();
    std::vector<double> term_values;
    for (auto& [n, v] : loss.terms) term_values.push_back(v.item<double>());
    if (group_) {
      if (weight > 0) weight = double(batch.targets.gt(0).sum().item<int64_t>());
      StepSums step = sum_over_processes(*group_, params_, interrupt_requested(), weight, value, term_values, device_);
      if (step.interrupted) return interrupted;
      value = step.loss;
      term_values = step.terms;
    }
    if (train_.clip_norm > 0) torch::nn::utils::clip_grad_norm_(params_, train_.clip_norm);
    optimizer_->step();
    if (!std::isfinite(value))
      return Ending{{"diverged", "loss is " + std::to_string(value) + " at epoch " + std::to_string(epoch) +
                                     ", step " + std::to_string(s + 1)}};
    sums.loss += value;
    if (sums.terms.empty())
      for (auto& [n, v] : loss.terms) sums.terms.emplace_back(n, 0.0);
    for (size_t i = 0; i < term_values.size() && i < sums.terms.size(); ++i) sums.terms[i].second += term_values[i];
    if (callbacks_.on_step) callbacks_.on_step({epoch, max_epochs_, s + 1, steps_per_epoch_, value});
    return std::nullopt;
  }

  // Early stopping on the validation selection metric; the best epoch's weights are kept in memory.
  void validate(int64_t epoch, EpochReport& report) {
    auto started = Clock::now();
    SplitEvaluation valid = evaluator_->run(*model_, false);
    st_.valid_seconds += since(started);
    report.valid = branch_metrics(ex_, valid.ranks.back());
    const double value = selection_value(ex_, valid);
    const int64_t patience = train_.patience;
    if (value > st_.best) {
      st_.best = value;
      st_.best_epoch = epoch;
      best_state_ = snapshot(*model_);
      st_.bad_evals = 0;
      report.improved = true;
    } else if (patience > 0 && ++st_.bad_evals >= patience) {
      st_.stopped = true;
    }
  }

  // Rank 0 decides early stopping; the others wait here while it evaluates.
  void agree_on_stopping() {
    auto stop = torch::tensor({rank_ == 0 && st_.stopped ? 1.f : 0.f}).to(device_);
    group_->sum(stop);
    st_.stopped = stop.item<float>() > 0;
  }

  // The reported test number is the selected (best-validation) epoch's, never the best test epoch; the same
  // selected model is then evaluated under each [[also_evaluate]] protocol.
  void evaluate_the_selected_epoch() {
    outcome_.timings.push_back({"train", st_.train_seconds, peak_rss_mb()});
    outcome_.timings.push_back({"valid_eval", st_.valid_seconds, peak_rss_mb()});
    if (!best_state_.empty()) restore(*model_, best_state_);
    outcome_.best_epoch = st_.best_epoch;
    auto started = Clock::now();
    const auto group_of_event = popularity_groups(split_, std::max<int64_t>(1, ex_.popularity_groups));
    ProtocolRecords main = evaluate_selected(ex_, *evaluator_, *model_, group_of_event);
    outcome_.metrics = std::move(main.metrics);
    outcome_.ranks = std::move(main.ranks);
    outcome_.group_metrics = std::move(main.group_metrics);
    outcome_.timings.push_back({"test_eval", since(started), peak_rss_mb()});
    for (const auto& variant : ex_.also_evaluate) {
      auto variant_started = Clock::now();
      Evaluator evaluator(variant.protocol, split_, builder_, eval_shape_, device_,
                          sampled_negatives(variant.protocol, ex_.base_dir, data_));
      ProtocolRecords records = evaluate_selected(ex_, evaluator, *model_, group_of_event);
      VariantOutcome v{std::move(records.metrics), std::move(records.ranks), std::move(records.group_metrics),
                       since(variant_started)};
      outcome_.variants.push_back(std::move(v));
    }
  }

  RunOutcome end_with(const std::string& status, const std::string& error) {
    outcome_.status = status;
    outcome_.error = error;
    outcome_.timings.push_back({"total", since(run_start_), peak_rss_mb()});
    return outcome_;
  }

  const Experiment& ex_;
  const RunSpec& run_;
  const Dataset& data_;
  const Split& split_;
  const RunCallbacks& callbacks_;
  const TrainOptions train_;
  const ProtocolOptions protocol_;
  const int64_t processes_;
  const int rank_;
  const Clock::time_point run_start_ = Clock::now();
  RunOutcome outcome_;
  torch::Device device_{torch::kCPU};
  bool bf16_ = false, trainable_ = false, prefix_ = false, first_step_taken_ = false;
  std::shared_ptr<AssembledModel> model_;
  std::vector<OptimizerGroupRequest> groups_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  torch::Tensor log_popularity_;
  BatchBuilder builder_;
  std::vector<BatchBuilder::Sample> samples_;
  int64_t batch_size_ = 0, steps_per_epoch_ = 0, max_epochs_ = 0;
  EvaluationShape eval_shape_;
  std::optional<Evaluator> evaluator_;
  TrainingState st_;
  std::vector<torch::Tensor> best_state_;
  std::unique_ptr<DataParallelGroup> group_;
  std::vector<torch::Tensor> params_;
};

}  // namespace

RunOutcome train_and_evaluate(const Experiment& ex, const RunSpec& run, const Dataset& data,
                              const Split& split, const PluginRegistry& registry,
                              const RunCallbacks& callbacks) {
  return Training(ex, run, data, split, registry, callbacks).run();
}

}  // namespace mmsr
