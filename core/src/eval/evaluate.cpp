#include "eval/evaluate.h"

#include "eval/item_blocks.h"

#include <torch/utils.h>

#include <algorithm>
#include <filesystem>
#include <limits>

#include "mmsr/engine.h"
#include "mmsr/features.h"
#include "mmsr/readers.h"

namespace mmsr {

Evaluator::Evaluator(const ParamSet& protocol, const Split& split, const BatchBuilder& builder,
                     EvaluationShape shape, torch::Device device, std::vector<std::vector<int32_t>> negatives)
    : Evaluator(protocol_options(protocol), split, builder, shape, device, std::move(negatives)) {}

Evaluator::Evaluator(const ProtocolOptions& protocol, const Split& split, const BatchBuilder& builder,
                     EvaluationShape shape, torch::Device device, std::vector<std::vector<int32_t>> negatives)
    : split_(split), builder_(builder), batch_size_(shape.users), items_per_block_(shape.items_per_block),
      device_(device), negatives_(std::move(negatives)),
      mask_history_(protocol.mask_history), tie_rule_(parse_tie_rule(protocol.ties)), ks_(protocol.ks),
      top_k_(protocol.candidates == "full" ? *std::max_element(protocol.ks.begin(), protocol.ks.end()) : 0),
      diversity_modality_(protocol.diversity_modality) {
  // Events in order of input length: batches of similar lengths are narrow (see BatchBuilder). Ranks are written
  // back by event index, so the order changes no number.
  for (bool test : {false, true}) {
    const auto& events = split.events(test);
    auto& index = index_[test];
    index.resize(events.size());
    for (size_t i = 0; i < index.size(); ++i) index[i] = int32_t(i);
    std::stable_sort(index.begin(), index.end(),
                     [&](int32_t a, int32_t b) { return events[size_t(a)].position < events[size_t(b)].position; });
    for (int32_t i : index) ordered_[test].push_back(events[size_t(i)]);
  }
}

SplitEvaluation Evaluator::run(AssembledModel& model, bool test, TopLists* top) {
  torch::NoGradGuard no_grad;
  model.eval();
  AssembledModel::ItemTables tables = model.item_tables();  // once per evaluation
  SplitEvaluation out;
  out.names = model.branch_names();
  if (model.num_branches() > 1) out.names.push_back("fused");
  const auto& ordered = ordered_[test];
  out.ranks.assign(out.names.size(), std::vector<double>(ordered.size(), 0.0));
  out.ties.assign(out.names.size(), std::vector<int64_t>(ordered.size(), 0));
  for (size_t begin = 0; begin < ordered.size(); begin += size_t(batch_size_)) {
    size_t end = std::min(ordered.size(), begin + size_t(batch_size_));
    Batch batch = to_device(builder_.evaluation_batch(ordered, begin, end), device_);
    std::vector<torch::Tensor> states = model.last_states(batch, tables.inputs);
    // Full ranking streams the catalogue in blocks; sampled candidates are picked out of whole rows of scores.
    if (negatives_.empty()) rank_in_blocks(model, tables, batch, states, begin, end, test, out, top);
    else rank_sampled(model, tables, batch, states, begin, end, test, out);
  }
  model.train();
  return out;
}

void Evaluator::rank_sampled(AssembledModel& model, const AssembledModel::ItemTables& tables, const Batch& batch,
                             const std::vector<torch::Tensor>& states, size_t begin, size_t end, bool test,
                             SplitEvaluation& out) const {
  const size_t nb = model.num_branches();
  const auto& index = index_[test];
  torch::Tensor candidates = candidate_mask(ordered_[test], begin, end, split_.num_items());
  torch::Tensor target = batch.targets.select(1, batch.targets.size(1) - 1).unsqueeze(1);
  // Each branch's scores, then (with several branches) their mean: late fusion's "fused" ranking.
  torch::Tensor fused;
  for (size_t b = 0; b < nb; ++b) {
    torch::Tensor scores = model.tower().score(b, states[b], tables.outputs[b]).to(torch::kFloat);
    fused = fused.defined() ? fused + scores : scores.clone();
    collect(scores, candidates, target, index, begin, out.ranks[b], out.ties[b]);
  }
  if (nb > 1) collect(fused / double(nb), candidates, target, index, begin, out.ranks[nb], out.ties[nb]);
}

void Evaluator::rank_in_blocks(AssembledModel& model, const AssembledModel::ItemTables& tables, const Batch& batch,
                               const std::vector<torch::Tensor>& states, size_t begin, size_t end, bool test,
                               SplitEvaluation& out, TopLists* top) const {
  const auto& index = index_[test];
  ItemBlockBatch rows{states, batch.targets.select(1, batch.targets.size(1) - 1).contiguous(),
                      excluded_items(ordered_[test], begin, end)};
  const int64_t k = top ? std::min<int64_t>(top->k, split_.num_items()) : 0;
  const BranchScore score = [&](size_t b, const torch::Tensor& s, const torch::Tensor& items) {
    return model.tower().score(b, s, items);
  };
  ItemBlockRanks r = rank_in_item_blocks(score, tables.outputs, rows, items_per_block_, k);
  for (size_t o = 0; o < r.higher.size(); ++o) {
    const auto* hp = r.higher[o].data_ptr<int64_t>();
    const auto* tp = r.tied[o].data_ptr<int64_t>();
    for (size_t i = 0; i < end - begin; ++i) {
      const size_t e = size_t(index[begin + i]);
      out.ranks[o][e] = rank_from_counts(hp[i], tp[i], tie_rule_);
      out.ties[o][e] = tp[i];
    }
  }
  if (k == 0) return;
  const torch::Tensor best = r.top.to(torch::kLong).contiguous();
  const auto* bp = best.data_ptr<int64_t>();
  for (size_t i = 0; i < end - begin; ++i) {
    int32_t* row = top->items.data() + size_t(index[begin + i]) * size_t(top->k);
    for (int64_t j = 0; j < k; ++j) row[j] = int32_t(bp[int64_t(i) * k + j]);
  }
}

std::vector<std::vector<int32_t>> Evaluator::excluded_items(const std::vector<EvaluationEvent>& events, size_t begin,
                                                            size_t end) const {
  std::vector<std::vector<int32_t>> out(end - begin);
  for (size_t r = 0; r < out.size(); ++r) {
    const EvaluationEvent& e = events[begin + r];
    auto& ex = out[r];
    ex.push_back(0);
    if (mask_history_) ex.insert(ex.end(), split_.history(e.user), split_.history(e.user) + e.position);
    std::sort(ex.begin(), ex.end());
    ex.erase(std::unique(ex.begin(), ex.end()), ex.end());
    const int32_t target = split_.target(e);
    ex.erase(std::remove(ex.begin(), ex.end(), target), ex.end());
  }
  return out;
}

// [B, N+1] bool under sampled evaluation: true for the items that compete with the target, the user's negatives and
// the target itself. (Full ranking excludes items instead: excluded_items.)
torch::Tensor Evaluator::candidate_mask(const std::vector<EvaluationEvent>& events, size_t begin, size_t end,
                                        int64_t n_items) const {
  const int64_t B = int64_t(end - begin);
  auto mask = torch::zeros({B, n_items + 1}, torch::kBool);
  auto* m = mask.data_ptr<bool>();
  for (int64_t r = 0; r < B; ++r) {
    bool* row = m + r * (n_items + 1);
    const EvaluationEvent& e = events[begin + size_t(r)];
    for (int32_t i : negatives_[size_t(e.user)]) row[i] = true;
    row[split_.target(e)] = true;
  }
  return mask.to(device_);
}

void Evaluator::collect(torch::Tensor scores, const torch::Tensor& candidates, const torch::Tensor& target,
                        const std::vector<int32_t>& index, size_t begin, std::vector<double>& ranks,
                        std::vector<int64_t>& ties) const {
  auto [higher_on_device, equal_on_device] = higher_and_tied(scores, candidates, target);
  torch::Tensor higher = higher_on_device.cpu(), equal = equal_on_device.cpu();
  auto* hp = higher.data_ptr<int64_t>();
  auto* ep = equal.data_ptr<int64_t>();
  for (int64_t i = 0; i < higher.size(0); ++i) {
    size_t e = size_t(index[begin + size_t(i)]);
    ranks[e] = rank_from_counts(hp[i], ep[i], tie_rule_);
    ties[e] = ep[i];
  }
}

EvaluationShape evaluation_shape(int64_t given_users, int64_t given_items_per_block, int64_t num_items,
                                 const torch::Device& device) {
  EvaluationShape shape;
  shape.users = given_users > 0 ? given_users : device.is_cpu() ? 256 : 1024;
  if (given_items_per_block > 0) shape.items_per_block = given_items_per_block;
  else if (device.is_cpu()) shape.items_per_block = 1024;
  else shape.items_per_block = std::max<int64_t>((int64_t(256) << 20) / shape.users, 1024);  // 1 GB of scores
  shape.items_per_block = std::min(shape.items_per_block, num_items + 1);
  return shape;
}

std::vector<MetricValue> branch_metrics(const Experiment& ex, const std::vector<double>& ranks) {
  const ProtocolOptions protocol = protocol_options(ex.protocol);
  return compute_metrics(ranks, protocol.metrics, protocol.ks);
}

double selection_value(const Experiment& ex, const SplitEvaluation& e) {
  return metric_value(branch_metrics(ex, e.ranks.back()), protocol_options(ex.protocol).select);
}

std::vector<int64_t> popularity_groups(const Split& split, int64_t groups) {
  const auto& counts = split.item_counts();
  std::vector<int32_t> seen;
  for (size_t i = 1; i < counts.size(); ++i)
    if (counts[i] > 0) seen.push_back(int32_t(i));
  std::stable_sort(seen.begin(), seen.end(), [&](int32_t a, int32_t b) { return counts[a] < counts[b]; });
  std::vector<int64_t> group_of_item(counts.size(), 0);
  for (size_t r = 0; r < seen.size(); ++r) group_of_item[size_t(seen[r])] = 1 + int64_t(r) * groups / int64_t(seen.size());
  std::vector<int64_t> out;
  for (const auto& e : split.events(true)) out.push_back(group_of_item[size_t(split.target(e))]);
  return out;
}

namespace {

// Single-branch models record their only branch as "fused": the score the leaderboard ranks by.
std::string stored_branch(const SplitEvaluation& e, size_t b) { return e.names.size() == 1 ? "fused" : e.names[b]; }

// Metrics and per-event ranks of one split's evaluation.
void record_split(const Experiment& ex, const std::string& split_name, const SplitEvaluation& e,
                  ProtocolRecords& out) {
  for (size_t b = 0; b < e.names.size(); ++b) {
    const std::string branch = stored_branch(e, b);
    for (const auto& m : branch_metrics(ex, e.ranks[b])) out.metrics.push_back({split_name, branch, m.name, m.k, m.value});
    int64_t tied = 0;
    for (int64_t t : e.ties[b]) tied += t > 0;
    out.metrics.push_back({split_name, branch, "tied_share", 0,
                           e.ties[b].empty() ? 0.0 : double(tied) / double(e.ties[b].size())});
    for (size_t u = 0; u < e.ranks[b].size(); ++u)
      out.ranks.push_back({split_name, branch, int64_t(u), e.ranks[b][u], e.ties[b][u]});
  }
}

// Test metrics per popularity group and branch.
void record_group_metrics(const Experiment& ex, const SplitEvaluation& test, const std::vector<int64_t>& group_of_event,
                          ProtocolRecords& out) {
  if (ex.popularity_groups <= 0) return;
  for (size_t b = 0; b < test.names.size(); ++b) {
    const std::string branch = stored_branch(test, b);
    for (int64_t g = 0; g <= ex.popularity_groups; ++g) {
      std::vector<double> ranks;
      for (size_t e = 0; e < group_of_event.size(); ++e)
        if (group_of_event[e] == g) ranks.push_back(test.ranks[b][e]);
      if (ranks.empty()) continue;
      for (const auto& m : branch_metrics(ex, ranks))
        out.group_metrics.push_back({"test", branch, g, m.name, m.k, m.value, int64_t(ranks.size())});
    }
  }
}

}  // namespace

ProtocolRecords evaluate_selected(const Experiment& ex, Evaluator& evaluator, AssembledModel& model,
                                  const std::vector<int64_t>& group_of_event) {
  ProtocolRecords out;
  // Beyond-accuracy metrics of the test's top-K lists.
  TopLists top;
  top.k = evaluator.top_k();
  top.items.assign(evaluator.split().events(true).size() * size_t(top.k), 0);
  SplitEvaluation test = evaluator.run(model, true, top.k > 0 ? &top : nullptr);
  if (top.k > 0) {
    const Dataset& data = evaluator.split().data();
    const std::string& modality = evaluator.diversity_modality();
    const FeatureTable* features = modality.empty() || !data.modalities ? nullptr : data.modalities->find(modality);
    for (const auto& m : beyond_accuracy(top, evaluator.ks(), evaluator.split().item_counts(), features))
      out.metrics.push_back({"test", "fused", m.name, m.k, m.value});
  }
  record_split(ex, "valid", evaluator.run(model, false), out);
  record_split(ex, "test", test, out);
  record_group_metrics(ex, test, group_of_event, out);
  return out;
}

std::pair<torch::Tensor, torch::Tensor> higher_and_tied(torch::Tensor& scores, const torch::Tensor& candidates,
                                                        const torch::Tensor& target) {
  scores.nan_to_num_(std::numeric_limits<double>::infinity());
  torch::Tensor t = scores.gather(1, target);
  // In place on the comparison results: two [B, N+1] passes per count, no extra temporaries.
  torch::Tensor higher = scores.gt(t).logical_and_(candidates).sum(1);
  torch::Tensor tied = scores.eq(t).logical_and_(candidates).sum(1) - 1;
  return {higher, tied};
}

std::vector<std::vector<int32_t>> sampled_negatives(const ParamSet& protocol, const std::string& base_dir,
                                                    const Dataset& data) {
  const ProtocolOptions o = protocol_options(protocol);
  if (o.candidates != "sampled") return {};
  if (o.negatives_file.empty()) return draw_negatives(data, o.negatives, uint64_t(o.negatives_seed));
  std::filesystem::path p(o.negatives_file);
  if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
  return read_negatives(p.lexically_normal().string(), data, o.negatives);
}

}  // namespace mmsr
