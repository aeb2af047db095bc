// mmsr's Google Benchmark suite (docs/performance.md): the pieces a grid spends its time in, each measured alone.
//
//   TrainStep/<backbone>/B:<batch>     one training step (forward, full-softmax loss, backward, Adam) of every backbone
//                                      plugin the registry holds, ID tower, d = 64, L = 50, a Beauty-sized catalogue
//   Dropout/<kernel>                   a [256, 50, 64] dropout mask: torch's serial Bernoulli against mmsr's fast kernel
//   FullRanking/users:<U>              scores of U users against 12,102 items as one matrix, history masked by a
//                                      candidate mask, count-based ranks (the evaluation before item blocks; what
//                                      sampled candidates still use)
//   RankInBlocks/items:<N>/users:<U>/block:<K>
//                                      full ranking of 2,048 users against N items, U users a batch and K items a
//                                      block (0: the evaluator's own choice), with its GFLOP/s and the sgemm peak
//   SgemmPeak                          that peak: the best single-thread rate of a 1,024-square product
//   Batching/<kind>                    host-side batch construction from a split (all-position and prefix samples)
//   ReadInteractions/<order>           reading and preprocessing a 2M-row RecBole .inter file (k-core 5), its rows
//                                      grouped by user or shuffled
//   ReadInteractions/cached            the same prepared data from the prepared-dataset cache: hashing the file for the
//                                      key, then reading and checking the entry
//   FeatureGather/rows:<n>             gathering token-level feature rows from a memory-mapped .npy file
//   ImtStep/<dedupe|per_slot>          an ODMT (IMT tower) training step computing each distinct item once, or once per
//                                      batch slot, on a batch whose items follow a Zipf popularity, with the runs'
//                                      default dropout kernel; ImtStep/dedupe/torch_dropout with LibTorch's.
//                                      MMSR_BENCH_OPS=1 prints a step's operators by self time and input shapes;
//                                      MMSR_BENCH_TRACE=FILE writes the first step's operators as a Chrome trace
//
//   build/bin/mmsr_bench [--store results/benchmarks.sqlite] [Google Benchmark flags, e.g. --benchmark_filter=Train]
//
// Results go to the console and, with --store, to the table `benchmarks` of that SQLite file (one row per benchmark
// and execution: name, iterations, real and CPU time per iteration, counters, machine context).
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <torch/optim/adam.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "mmsr/allocator.h"
#include "mmsr/config.h"
#include "mmsr/dataset_cache.h"
#include "mmsr/features.h"
#include "mmsr/readers.h"
#include "mmsr/registry.h"
#include "mmsr/sdk/dropout.h"
#include "eval/evaluate.h"
#include "eval/item_blocks.h"
#include "model/model.h"

namespace {

using namespace mmsr;

constexpr int64_t kItems = 12101, kLen = 50, kDim = 64;

PluginRegistry& registry() {
  // The plugins beside the executable (../lib/mmsr/plugins, as mmsr finds its own), so that a copy of an older
  // build measures with its own plugins; else the build tree's.
  static PluginRegistry* r = [] {
    auto* reg = new PluginRegistry();
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
    const auto beside = default_plugin_dirs(exe).back();
    reg->load_directory(std::filesystem::is_directory(beside, ec) ? beside : std::string(MMSR_PLUGIN_DIR));
    return reg;
  }();
  return *r;
}

ComponentSpec component(PluginKind kind, const std::string& name, std::map<std::string, ParamValue> given) {
  const ComponentEntry* e = registry().find(kind, name);
  if (!e) throw std::runtime_error("plugin not loaded: " + name);
  return {name, ParamSet::resolve(e->params, given), 1.0};
}

// A batch whose slots hold the given item ids, with the distinct items and each slot's index into them (dedupe), or
// one "distinct" entry per slot (per_slot: what a tower without the dedupe computes).
Batch make_batch(const torch::Tensor& items, const torch::Tensor& targets, bool dedupe) {
  Batch b;
  b.items = items;
  b.targets = targets;
  b.valid = items.ne(0);
  b.users = torch::arange(items.size(0));
  const int64_t n = items.numel();
  auto both = torch::cat({items.reshape({-1}), targets.reshape({-1})});
  if (dedupe) {
    auto [unique, inverse, counts] = at::_unique2(both, true, true);
    b.unique_items = unique;
    b.item_index = inverse.slice(0, 0, n).reshape(items.sizes());
    b.target_index = inverse.slice(0, n).reshape(items.sizes());
  } else {
    b.unique_items = both;
    b.item_index = torch::arange(n).reshape(items.sizes());
    b.target_index = torch::arange(n, 2 * n).reshape(items.sizes());
  }
  return b;
}

// Item ids 1..N with Zipf(1) popularity, as in real catalogues (a few items in most sequences).
torch::Tensor zipf_items(int64_t rows, int64_t cols, int64_t n, uint64_t seed) {
  std::vector<double> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[size_t(i)] = 1.0 / double(i + 1);
  std::mt19937_64 rng(seed);
  std::discrete_distribution<int64_t> pick(w.begin(), w.end());
  auto out = torch::empty({rows, cols}, torch::kLong);
  auto* p = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = pick(rng) + 1;
  return out;
}

// What a run builds its model with by default (the dropout kernel included).
BuildContext id_context() {
  BuildContext c;
  c.num_items = kItems;
  c.max_len = kLen;
  c.fast_dropout = TrainOptions{}.fast_dropout;
  return c;
}

void TrainStep(benchmark::State& state, const std::string& backbone) {
  torch::set_num_threads(1);
  const int64_t B = state.range(0);
  RunSpec run;
  run.tower = component(PluginKind::ItemTower, "id", {{"dim", kDim}});
  run.backbone = component(PluginKind::Backbone, backbone, {});
  run.losses = {component(PluginKind::Objective, "softmax", {})};
  torch::manual_seed(1);
  std::unique_ptr<AssembledModel> model;
  try {
    model = std::make_unique<AssembledModel>(run, registry(), id_context());
  } catch (const std::exception& e) {
    state.SkipWithError((backbone + " needs more than ID data: " + e.what()).c_str());
    return;
  }
  model->train();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  auto items = zipf_items(B, kLen, kItems, 1), targets = zipf_items(B, kLen, kItems, 2);
  Batch batch = make_batch(items, targets, true);
  auto log_pop = torch::zeros({kItems + 1});
  auto step = [&] {
    LossTerms loss = model->loss(batch, log_pop, {1, 1, 0});
    opt.zero_grad();
    loss.total.backward();
    opt.step();
  };
  step();  // untimed, as in ImtStep
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * B * kLen);  // positions trained
}

// One loss's forward and backward for P = 2048 positions (forty users' windows) against a catalogue of range(0)
// items, the states and the item table as a backbone and an ID tower would give them: the full softmax in one
// matrix or in item chunks, the sampled softmax, and BCE with 1 or 256 negatives (SASRec's and gSASRec's).
void LossStep(benchmark::State& state, const std::string& loss, std::map<std::string, ParamValue> params) {
  torch::set_num_threads(1);
  const int64_t n = state.range(0), rows = 40;
  torch::manual_seed(1);
  auto items = zipf_items(rows, kLen + 1, n, 4);
  Batch batch = make_batch(items.slice(1, 0, kLen), items.slice(1, 1), true);
  auto states = torch::randn({rows, kLen, kDim}, torch::requires_grad());
  auto table = (torch::randn({n + 1, kDim}) * 0.1).requires_grad_(true);
  const ComponentEntry* e = registry().find(PluginKind::Objective, loss);
  BuildContext c;
  c.num_items = n;
  std::vector<int64_t> counts(size_t(n + 1), 1);
  c.item_counts = &counts;
  auto objective = e->make_objective(ParamSet::resolve(e->params, params), c);
  ForwardOutput out;
  out.batch = &batch;
  out.all_item_vectors = [&](size_t) { return table; };
  out.score = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.transpose(-2, -1)); };
  for (auto _ : state) {
    out.branches = {{"id", states, table.index_select(0, batch.unique_items)}};
    objective->compute(out).total.backward();
    states.mutable_grad().zero_();
    table.mutable_grad().zero_();
  }
  state.SetItemsProcessed(state.iterations() * rows * kLen);
}

void Dropout(benchmark::State& state, bool fast) {
  torch::set_num_threads(1);
  auto x = torch::randn({256, kLen, kDim});
  for (auto _ : state) benchmark::DoNotOptimize(mmsr::dropout(x, 0.5, true, fast));
  state.SetItemsProcessed(state.iterations() * x.numel());
}

void FullRanking(benchmark::State& state) {
  torch::set_num_threads(1);
  const int64_t U = state.range(0);
  auto states = torch::randn({U, kDim}), table = torch::randn({kItems + 1, kDim});
  auto history = zipf_items(U, 9, kItems, 3);  // Beauty's average history length
  auto target = zipf_items(U, 1, kItems, 4);
  for (auto _ : state) {
    auto candidates = torch::ones({U, kItems + 1}, torch::kBool);
    candidates.select(1, 0).fill_(false);
    candidates.scatter_(1, history, false);
    candidates.scatter_(1, target, true);
    auto scores = torch::matmul(states, table.t());
    auto counts = higher_and_tied(scores, candidates, target);
    benchmark::DoNotOptimize(counts.first.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * U);  // users ranked
}

// The machine's single-thread sgemm rate (GFLOP/s): the best of a few square products of 1,024, measured once per
// process so that every ratio to it comes from the same run.
double sgemm_peak_gflops() {
  static const double peak = [] {
    torch::set_num_threads(1);
    const int64_t n = 1024;
    auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
    torch::mm_out(c, a, b);  // warm up
    double best = 0;
    for (int rep = 0; rep < 20; ++rep) {
      const auto start = std::chrono::steady_clock::now();
      torch::mm_out(c, a, b);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::max(best, 2.0 * double(n * n * n) / seconds / 1e9);
    }
    return best;
  }();
  return peak;
}

void SgemmPeak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sgemm_peak_gflops());
  state.counters["gflops"] = sgemm_peak_gflops();
}

// Full ranking of 2,048 users (Zipf targets, 9 history items each, masked) against N items, in batches of U users and
// blocks of K items (0: what the evaluator chooses, evaluation_shape): scores and the count-based ranks, no top
// lists (what each validation computes).
// Counters: users per second, and the scoring's GFLOP/s as a share of the run's own sgemm peak.
void RankInBlocks(benchmark::State& state) {
  torch::set_num_threads(1);
  const int64_t n = state.range(0), users = 2048;
  const EvaluationShape shape =
      evaluation_shape(state.range(1), state.range(2), n, torch::Device(torch::kCPU));
  const int64_t block = shape.items_per_block > 0 ? shape.items_per_block : n + 1;
  auto table = torch::randn({n + 1, kDim}) * 0.1;
  auto states = torch::randn({users, kDim});
  auto history = zipf_items(users, 9, n, 3);
  auto target = zipf_items(users, 1, n, 4).squeeze(1);
  std::vector<std::vector<int32_t>> excluded(static_cast<size_t>(users));
  const auto* h = history.data_ptr<int64_t>();
  const auto* t = target.data_ptr<int64_t>();
  for (int64_t u = 0; u < users; ++u) {
    auto& ex = excluded[size_t(u)];
    ex.push_back(0);
    for (int64_t j = 0; j < 9; ++j) ex.push_back(int32_t(h[u * 9 + j]));
    std::sort(ex.begin(), ex.end());
    ex.erase(std::unique(ex.begin(), ex.end()), ex.end());
    ex.erase(std::remove(ex.begin(), ex.end(), int32_t(t[u])), ex.end());
  }
  const BranchScore dot = [](size_t, const torch::Tensor& s, const torch::Tensor& v) { return torch::matmul(s, v.t()); };
  int64_t recounted = 0;
  for (auto _ : state)
    for (int64_t begin = 0; begin < users; begin += shape.users) {
      const int64_t end = std::min(users, begin + shape.users);
      ItemBlockBatch batch{{states.slice(0, begin, end)}, target.slice(0, begin, end),
                           {excluded.begin() + begin, excluded.begin() + end}};
      recounted += rank_in_item_blocks(dot, {table}, batch, block, 0).recounted_rows;
    }
  state.SetItemsProcessed(state.iterations() * users);
  const double flops = 2.0 * double(users) * double(n + 1) * double(kDim) * double(state.iterations());
  state.counters["gflops"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
  state.counters["sgemm_peak_gflops"] = sgemm_peak_gflops();
  state.counters["users_per_batch"] = double(shape.users);
  state.counters["items_per_block"] = double(block);
  state.counters["recounted_rows"] = double(recounted);
}

struct SyntheticSplit {
  Dataset data;
  std::unique_ptr<Split> split;
  SyntheticSplit() {
    SyntheticOptions o;
    o.users = 20000;
    o.items = kItems;
    o.clusters = 100;
    o.text_tokens = 0;
    o.image_tokens = 0;
    data = generate_synthetic(o);
    split = std::make_unique<Split>(data);
  }
};

void Batching(benchmark::State& state, bool prefix) {
  static SyntheticSplit s;
  BatchBuilder builder(*s.split, kLen);
  auto samples = builder.training_samples(prefix);
  size_t begin = 0;
  const size_t B = 256;
  for (auto _ : state) {
    if (begin + B > samples.size()) begin = 0;
    benchmark::DoNotOptimize(builder.training_batch(samples, begin, begin + B, prefix));
    begin += B;
  }
  state.SetItemsProcessed(state.iterations() * int64_t(B));  // samples batched
}

// A RecBole .inter file of 2M interactions (50,000 users, 20,000 items with a Zipf popularity), rows either grouped
// by user (as most published files are) or shuffled, written once per process in the temp folder.
struct InteractionFile {
  static constexpr int64_t rows = 2000000, users = 50000, items = 20000;
  std::string path;
  explicit InteractionFile(bool shuffled)
      : path((std::filesystem::temp_directory_path() /
              ("mmsr-bench-" + std::to_string(getpid()) + (shuffled ? "-shuffled" : "-grouped") + ".inter"))
                 .string()) {
    std::mt19937 rng(11);
    std::vector<double> weights(items);
    for (int64_t i = 0; i < items; ++i) weights[size_t(i)] = 1.0 / double(i + 1);
    std::discrete_distribution<int64_t> item(weights.begin(), weights.end());
    std::vector<std::array<int64_t, 3>> rows_of(rows);
    for (int64_t r = 0; r < rows; ++r) rows_of[size_t(r)] = {r % users, item(rng), 1500000000 + r};
    if (shuffled) std::shuffle(rows_of.begin(), rows_of.end(), rng);
    else std::stable_sort(rows_of.begin(), rows_of.end(), [](const auto& a, const auto& b) { return a[0] < b[0]; });
    std::ofstream out(path);
    out << "user_id:token\titem_id:token\ttimestamp:float\n";
    for (const auto& [u, i, t] : rows_of) out << 'u' << u << "\ti" << i << '\t' << t << '\n';
  }
  ~InteractionFile() { std::filesystem::remove(path); }
};

// Written once per process, on first use.
const InteractionFile& interaction_file(bool shuffled) {
  static InteractionFile grouped(false), mixed(true);
  return shuffled ? mixed : grouped;
}

void ReadInteractions(benchmark::State& state, bool shuffled) {
  const InteractionFile& file = interaction_file(shuffled);
  PreprocessOptions options;
  options.k_core = 5;
  for (auto _ : state) {
    Dataset data = preprocess(read_recbole_inter(file.path), options, "bench");
    benchmark::DoNotOptimize(data.sequences.data());
  }
  state.SetItemsProcessed(state.iterations() * InteractionFile::rows);  // interactions read
}

void ReadInteractionsCached(benchmark::State& state) {
  const InteractionFile& file = interaction_file(true);
  PreprocessOptions options;
  options.k_core = 5;
  const std::string folder = (std::filesystem::temp_directory_path() / ("mmsr-bench-cache-" + std::to_string(getpid()))).string();
  DatasetCache cache(folder);
  cache.put(DatasetCache::key({file.path}, "recbole", options, "bench"),
            preprocess(read_recbole_inter(file.path), options, "bench"));
  for (auto _ : state) {
    std::optional<Dataset> data = cache.find(DatasetCache::key({file.path}, "recbole", options, "bench"));
    if (!data) state.SkipWithError("the cache entry was not found");
    benchmark::DoNotOptimize(data->sequences.data());
  }
  state.SetItemsProcessed(state.iterations() * InteractionFile::rows);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) std::filesystem::remove(entry.path(), ec);
  std::filesystem::remove(folder, ec);
}

// A token-level .npy file [rows, tokens, dim] of float32, written once per process in the temp folder.
struct TokenFile {
  static constexpr int64_t rows = 20000, tokens = 16, dim = 128;
  std::string path = (std::filesystem::temp_directory_path() / ("mmsr-bench-" + std::to_string(getpid()) + ".npy")).string();
  TokenFile() {
    std::ofstream out(path, std::ios::binary);
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                         std::to_string(tokens) + ", " + std::to_string(dim) + "), }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    const uint16_t len = uint16_t(header.size());
    out.write("\x93NUMPY\x01\x00", 8);
    out.write(reinterpret_cast<const char*>(&len), 2);
    out << header;
    std::vector<float> row(size_t(tokens * dim));
    std::mt19937 rng(5);
    std::normal_distribution<float> normal;
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = normal(rng);
      out.write(reinterpret_cast<const char*>(row.data()), std::streamsize(row.size() * sizeof(float)));
    }
  }
  // The synthetic items are named i1, i2, ...: item i<k> reads row k - 1.
  std::string map_path = path + ".map";
  void write_map(int64_t items) const {
    std::ofstream map(map_path);
    for (int64_t k = 1; k <= items; ++k) map << 'i' << k << '\t' << (k - 1) % rows << '\n';
  }
  ~TokenFile() {
    std::filesystem::remove(path);
    std::filesystem::remove(map_path);
  }
};

void FeatureGather(benchmark::State& state) {
  static TokenFile file;
  SyntheticOptions o;
  o.users = 100;
  o.items = TokenFile::rows;
  o.text_tokens = 0;
  o.image_tokens = 0;
  static Dataset data = generate_synthetic(o);
  ModalitySpec spec;
  spec.name = "tokens";
  spec.path = file.path;
  file.write_map(TokenFile::rows);
  spec.id_map = file.map_path;
  FeatureTable table = FeatureTable::open(spec, data);
  const int64_t n = state.range(0);
  auto ids = zipf_items(1, n, TokenFile::rows - 1, 6).reshape({-1});
  std::vector<float> out(size_t(n * TokenFile::tokens * TokenFile::dim));
  std::vector<uint8_t> mask(size_t(n * TokenFile::tokens));
  for (auto _ : state) table.gather(ids.data_ptr<int64_t>(), size_t(n), out.data(), mask.data());
  state.SetBytesProcessed(state.iterations() * n * TokenFile::tokens * TokenFile::dim * 4);
}

// MMSR_BENCH_OPS=1: one step's LibTorch operators by self time, with their input shapes (which matrix a "mul" was
// on), the 45 largest; on stdout.
template <class Step>
void print_operators_by_self_time(Step& step) {
  using namespace torch::autograd::profiler;
  enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU, true));
  step();
  std::map<std::string, double> self_us;
  for (auto& events : disableProfilerLegacy()) {
    std::vector<std::pair<LegacyEvent*, double>> open;  // an operator and its children's time so far
    for (auto& e : events) {
      if (e.kindStr() == "push") {
        open.push_back({&e, 0.0});
      } else if (e.kindStr() == "pop" && !open.empty()) {
        auto [start, children] = open.back();
        open.pop_back();
        const double us = start->cpuElapsedUs(e);
        std::string key = start->name();
        for (const auto& shape : start->shapes()) key += " " + fmt::format("[{}]", fmt::join(shape, ","));
        self_us[key] += us - children;
        if (!open.empty()) open.back().second += us;
      }
    }
  }
  std::vector<std::pair<double, std::string>> ranked;
  for (const auto& [key, us] : self_us) ranked.push_back({us, key});
  std::sort(ranked.rbegin(), ranked.rend());
  for (size_t i = 0; i < std::min<size_t>(45, ranked.size()); ++i)
    std::printf("%9.1f ms  %s\n", ranked[i].first / 1e3, ranked[i].second.c_str());
}

// ODMT's IMT tower over 30 text and 50 image tokens per item (the paper's counts, features 128-d here) and a SASRec
// per branch; B = 64 sequences of 50 items from a Zipf catalogue of 12,101 items.
void ImtStep(benchmark::State& state, bool dedupe, bool fast_dropout) {
  torch::set_num_threads(1);
  constexpr int64_t T = 30, V = 50, D = 128, B = 64;
  auto text = torch::randn({kItems + 1, T, D}), image = torch::randn({kItems + 1, V, D});
  auto gather = [&](const std::string& name, const torch::Tensor& ids) {
    const auto& src = name == "text" ? text : image;
    return ModalityFeatures{src.index_select(0, ids), torch::ones({ids.size(0), src.size(1)}, torch::kBool)};
  };
  BuildContext c = id_context();
  c.modalities = {{"text", false, T, D}, {"image", false, V, D}};
  c.gather = gather;
  c.fast_dropout = fast_dropout;
  RunSpec run;
  run.tower = component(PluginKind::ItemTower, "imt", {{"dim", kDim}});
  run.backbone = component(PluginKind::Backbone, "sasrec", {});
  run.losses = {component(PluginKind::Objective, "inbatch", {}), component(PluginKind::Objective, "distill", {})};
  torch::manual_seed(1);
  AssembledModel model(run, registry(), c);
  model.train();
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(1e-3));
  auto items = zipf_items(B, kLen, kItems, 7), targets = zipf_items(B, kLen, kItems, 8);
  Batch batch = make_batch(items, targets, dedupe);
  batch.features = {{"text", gather("text", batch.unique_items)}, {"image", gather("image", batch.unique_items)}};
  auto log_pop = torch::zeros({kItems + 1});
  // MMSR_BENCH_TRACE=FILE: the first step's operators, as a Chrome trace of LibTorch's profiler (a profile by op).
  const char* trace = std::getenv("MMSR_BENCH_TRACE");
  std::optional<torch::autograd::profiler::RecordProfile> profile;
  auto step = [&] {
    LossTerms loss = model.loss(batch, log_pop, {1, 1, 0});
    opt.zero_grad();
    loss.total.backward();
    opt.step();
  };
  step();  // untimed: the first step's allocations and lazy set-up are not what an epoch's steps cost
  if (std::getenv("MMSR_BENCH_OPS")) print_operators_by_self_time(step);
  if (trace) profile.emplace(std::string(trace));
  for (auto _ : state) {
    step();
    profile.reset();
  }
  state.counters["tower_items"] = double(batch.unique_items.size(0));
  state.SetItemsProcessed(state.iterations() * B * kLen);
}

// Console output as usual, and each run as a row of the store's `benchmarks` table.
class StoreReporter : public benchmark::ConsoleReporter {
 public:
  explicit StoreReporter(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error(path + ": cannot open the store");
    exec("CREATE TABLE IF NOT EXISTS benchmarks (id INTEGER PRIMARY KEY AUTOINCREMENT, recorded_at TEXT NOT NULL, "
         "name TEXT NOT NULL, iterations INTEGER NOT NULL, real_ns REAL NOT NULL, cpu_ns REAL NOT NULL, "
         "counters TEXT NOT NULL, context TEXT NOT NULL)");
  }
  ~StoreReporter() override { sqlite3_close(db_); }
  bool ReportContext(const Context& context) override {
    context_ = {{"cpus", context.cpu_info.num_cpus},
                {"mhz", context.cpu_info.cycles_per_second / 1e6},
                {"torch_threads", 1},
                {"build", MMSR_BUILD_TYPE}};
    return ConsoleReporter::ReportContext(context);
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    char when[32];
    std::time_t now = std::time(nullptr);
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    for (const auto& r : runs) {
      if (r.error_occurred) continue;
      nlohmann::json counters = nlohmann::json::object();
      for (const auto& [name, c] : r.counters) counters[name] = double(c);
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db_, "INSERT INTO benchmarks (recorded_at, name, iterations, real_ns, cpu_ns, counters, "
                              "context) VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &st, nullptr);
      const std::string name = r.benchmark_name(), c = counters.dump(), ctx = context_.dump();
      sqlite3_bind_text(st, 1, when, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, name.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 3, int64_t(r.iterations));
      sqlite3_bind_double(st, 4, r.GetAdjustedRealTime() * to_ns(r.time_unit));
      sqlite3_bind_double(st, 5, r.GetAdjustedCPUTime() * to_ns(r.time_unit));
      sqlite3_bind_text(st, 6, c.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 7, ctx.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st) != SQLITE_DONE) std::fprintf(stderr, "store: %s\n", sqlite3_errmsg(db_));
      sqlite3_finalize(st);
    }
  }

 private:
  static double to_ns(benchmark::TimeUnit u) {
    switch (u) {
      case benchmark::kNanosecond: return 1;
      case benchmark::kMicrosecond: return 1e3;
      case benchmark::kMillisecond: return 1e6;
      default: return 1e9;
    }
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      throw std::runtime_error("store: " + msg);
    }
  }
  sqlite3* db_ = nullptr;
  nlohmann::json context_;
};

void register_all() {
  for (const auto& name : registry().names(PluginKind::Backbone))
    benchmark::RegisterBenchmark(("TrainStep/" + name).c_str(), TrainStep, name)
        ->ArgName("B")->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond);
  const std::vector<std::tuple<std::string, std::string, std::map<std::string, ParamValue>>> losses = {
      {"softmax", "softmax", {}},
      {"softmax_chunk8192", "softmax", {{"chunk", int64_t(8192)}}},
      {"sampled_softmax256", "sampled_softmax", {{"negatives", int64_t(256)}}},
      {"bce1", "bce", {}},
      {"gbce256", "bce", {{"negatives", int64_t(256)}, {"calibration", 0.75}}}};
  for (const auto& [label, loss, params] : losses)
    benchmark::RegisterBenchmark(("LossStep/" + label).c_str(), LossStep, loss, params)
        ->ArgName("items")->Arg(kItems)->Arg(100000)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Dropout/torch", Dropout, false)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Dropout/fast", Dropout, true)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("FullRanking", FullRanking)->ArgName("users")->Arg(128)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("SgemmPeak", SgemmPeak)->Iterations(1)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("RankInBlocks", RankInBlocks)
      ->ArgNames({"items", "users", "block"})->Args({kItems, 0, 0})->Args({100000, 0, 0})->Args({1000000, 0, 0})
      ->Args({100000, 128, 2048})->Args({100000, 256, 1024})->Args({100000, 256, 4096})->Args({100000, 512, 2048})
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Batching/all_position", Batching, false)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("Batching/prefix", Batching, true)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("ReadInteractions/grouped", ReadInteractions, false)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("ReadInteractions/shuffled", ReadInteractions, true)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("ReadInteractions/cached", ReadInteractionsCached)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("FeatureGather", FeatureGather)->ArgName("rows")->Arg(1024)->Unit(benchmark::kMicrosecond);
  // As runs train by default (fast dropout masks), and with LibTorch's dropout (as before it was the default).
  benchmark::RegisterBenchmark("ImtStep/dedupe", ImtStep, true, TrainOptions{}.fast_dropout)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("ImtStep/dedupe/torch_dropout", ImtStep, true, false)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("ImtStep/per_slot", ImtStep, false, TrainOptions{}.fast_dropout)->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  keep_large_allocations_in_heap();  // as mmsr's own processes do, so that steps cost here what they cost in a run
  std::string store;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--store" && i + 1 < argc) store = argv[++i];
    else if (a.rfind("--store=", 0) == 0) store = a.substr(8);
    else args.push_back(argv[i]);
  }
  int n = int(args.size());
  benchmark::Initialize(&n, args.data());
  register_all();
  if (store.empty()) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    StoreReporter reporter(store);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::Shutdown();
  return 0;
}
