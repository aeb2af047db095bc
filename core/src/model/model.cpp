#include "model.h"

#include <ATen/ATen.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <limits>

#include "mmsr/errors.h"

namespace mmsr {
namespace {

// The encoder of a model without a backbone: one constant state per position. Its item tower's score decides
// everything (a popularity baseline), so the user's sequence is not read at all.
class NoSequence : public SequenceEncoder {
 public:
  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor&, const Batch&) override {
    return torch::zeros({vectors.size(0), vectors.size(1), 1}, vectors.options());
  }
  int64_t output_dim() const override { return 1; }
};

}  // namespace

AssembledModel::AssembledModel(const RunSpec& run, const PluginRegistry& registry,
                               const BuildContext& context)
    : num_items_(context.num_items) {
  const ComponentEntry* t = registry.find(PluginKind::ItemTower, run.tower.plugin);
  const bool sequence_free = run.backbone.plugin.empty();
  const ComponentEntry* b = sequence_free ? nullptr : registry.find(PluginKind::Backbone, run.backbone.plugin);
  if (!t) throw InputError("plugin not loaded: " + run.tower.plugin);
  if (!b && !sequence_free) throw InputError("plugin not loaded: " + run.backbone.plugin);
  tower_ = register_module("tower", t->make_item_tower(run.tower.params, context));
  branch_names_ = tower_->branch_names();
  modalities_ = tower_->modalities();
  modality_infos_ = context.modalities;
  gather_ = context.gather;
  for (const auto& m : modalities_) {
    bool known = false;
    for (const auto& info : modality_infos_) known = known || info.name == m;
    if (!known) {
      std::string names;
      for (const auto& info : modality_infos_) names += (names.empty() ? "" : ", ") + info.name;
      throw InputError("item tower '" + t->name + "' reads the modality '" + m + "', which the experiment does not " +
                       "have (" + (names.empty() ? "no modalities" : "it has: " + names) +
                       "); declare it with [[modality]] name = \"" + m + "\", path = ...");
    }
  }
  if (branch_names_.empty()) throw std::logic_error("item tower '" + t->name + "' declares no branch");
  adapt_modalities(run.train, t->name);
  for (size_t i = 0; i < branch_names_.size(); ++i) {
    BuildContext c = context;
    c.branch_index = i;
    c.branch_name = branch_names_[i];
    c.input_dim = tower_->branch_dim(i);
    encoders_.push_back(register_module(
        "encoder_" + branch_names_[i],
        sequence_free ? std::make_shared<NoSequence>() : b->make_backbone(run.backbone.params, c)));
  }
  for (size_t i = 0; i < run.losses.size(); ++i) {
    const ComponentEntry* o = registry.find(PluginKind::Objective, run.losses[i].plugin);
    if (!o) throw InputError("plugin not loaded: " + run.losses[i].plugin);
    objectives_.push_back(
        register_module("loss_" + std::to_string(i), o->make_objective(run.losses[i].params, context)));
    weights_.push_back(run.losses[i].weight);
    objective_names_.push_back(run.losses[i].plugin);
  }

}

void AssembledModel::adapt_modalities(const ParamSet& train, const std::string& tower_name) {
  if (!train.has("adapt")) return;  // a run assembled in code, without a [train] section
  const auto& names = train.get_string_list("adapt");
  for (const auto& name : names) {
    const ModalityInfo* info = nullptr;
    for (const auto& m : modality_infos_)
      if (m.name == name) info = &m;
    if (!info || std::find(modalities_.begin(), modalities_.end(), name) == modalities_.end())
      throw InputError("[train] adapt names the modality '" + name + "', which the item tower '" + tower_name +
                       "' does not read" + (modalities_.empty() ? " (it reads none)" : " (it reads: " + [&] {
                         std::string s;
                         for (const auto& m : modalities_) s += (s.empty() ? "" : ", ") + m;
                         return s;
                       }() + ")") + "; adapt only modalities the tower reads");
    if (adapted_.count(name)) throw InputError("[train] adapt names the modality '" + name + "' twice");
    torch::NoGradGuard no_grad;
    auto table = torch::empty({num_items_ + 1, info->dim}, torch::kFloat);
    for (int64_t begin = 0; begin <= num_items_; begin += 4096) {
      auto ids = torch::arange(begin, std::min(num_items_ + 1, begin + 4096), torch::kLong);
      auto values = gather_(name, ids).values;
      table.slice(0, begin, begin + ids.size(0)).copy_(values.dim() == 3 ? values.select(1, 0) : values);
    }
    adapted_[name] = register_parameter("adapted_" + name, table);
  }
  if (adapted_.empty()) return;
  adapted_group_.name = "adapted modality embeddings";
  for (auto& [name, table] : adapted_) adapted_group_.parameters.push_back(table);
  adapted_group_.lr_scale = train.get_double("adapt_lr_scale");
  const std::vector<int64_t> milestones = train.get_int_list("adapt_milestones");
  const double gamma = train.get_double("adapt_gamma");
  // KDSR's asynchronous step: the rate is multiplied by gamma at each milestone reached (1-based epochs).
  adapted_group_.schedule = [milestones, gamma](int64_t epoch) {
    double factor = 1.0;
    for (int64_t m : milestones)
      if (epoch >= m) factor *= gamma;
    return factor;
  };
}

// The features as the tower reads them: an adapted modality's vector (pooled, or the first token) replaced by the
// rows of its trainable table. With `rows`, also those rows and their mask, by modality, as a loss reads them.
ItemFeatures AssembledModel::tower_view(const ItemFeatures& frozen, const torch::Tensor& item_ids,
                                        ItemFeatures* rows) const {
  if (adapted_.empty()) return frozen;
  ItemFeatures view = frozen;
  for (const auto& [name, table] : adapted_) {
    const ModalityFeatures& f = frozen.at(name);
    auto r = table.index_select(0, item_ids.to(table.device()));
    view[name].values = f.values.dim() == 3 ? torch::cat({r.unsqueeze(1), f.values.slice(1, 1)}, 1) : r;
    if (rows) (*rows)[name] = {r, f.mask.dim() == 2 ? f.mask.select(1, 0) : f.mask};
  }
  return view;
}

LossTerms AssembledModel::loss(const Batch& plain_batch, const torch::Tensor& log_popularity,
                               const TrainProgress& progress) {
  // The losses' view of the batch: with the adapted modalities' trainable rows next to the frozen features.
  const Batch* view = &plain_batch;
  Batch with_adapted;
  ItemFeatures adapted_rows;
  ItemFeatures tower_features = tower_view(plain_batch.features, plain_batch.unique_items, &adapted_rows);
  if (!adapted_rows.empty()) {
    with_adapted = plain_batch;
    for (auto& [name, f] : adapted_rows) with_adapted.features[adapted_key(name)] = f;
    view = &with_adapted;
  }
  const Batch& batch = *view;
  // Each distinct item of the batch goes through the tower once; slots gather their rows.
  std::vector<torch::Tensor> unique_vectors = tower_->forward(batch.unique_items, tower_features);
  ForwardOutput out;
  out.batch = &batch;
  out.log_popularity = log_popularity;
  out.progress = progress;
  for (size_t b = 0; b < encoders_.size(); ++b) {
    const auto& u = unique_vectors[b];
    torch::Tensor inputs = u.index_select(0, batch.item_index.reshape({-1}))
                               .reshape({batch.items.size(0), batch.items.size(1), u.size(1)});
    out.branches.push_back({branch_names_[b], encoders_[b]->forward(inputs, batch.valid, batch), u});
  }
  // The whole catalogue only when a loss asks for it (full softmax), computed once per step.
  auto cache = std::make_shared<std::vector<torch::Tensor>>();
  out.all_item_vectors = [this, cache](size_t branch) {
    if (cache->empty()) *cache = all_item_vectors();
    return (*cache)[branch];
  };
  out.score = [this](size_t branch, const torch::Tensor& states, const torch::Tensor& vectors) {
    return tower_->score(branch, states, vectors);
  };
  LossTerms total;
  for (size_t i = 0; i < objectives_.size(); ++i) {
    LossTerms part = objectives_[i]->compute(out);
    torch::Tensor weighted = part.total * weights_[i];
    total.total = total.total.defined() ? total.total + weighted : weighted;
    for (auto& [name, value] : part.terms) {
      // A loss listed twice may name its terms alike: the later one gets "#2" (never two terms of one name).
      std::string full = objective_names_[i] + "/" + name;
      for (int k = 2; std::any_of(total.terms.begin(), total.terms.end(), [&](const auto& t) { return t.first == full; });
           ++k)
        full = objective_names_[i] + "#" + std::to_string(k) + "/" + name;
      total.terms.emplace_back(full, value);
    }
  }
  return total;
}

bool AssembledModel::trainable() {
  for (const auto& p : parameters())
    if (p.requires_grad()) return true;
  return false;
}

std::vector<torch::Tensor> AssembledModel::all_item_vectors() {
  auto params = parameters();
  auto buffers = this->buffers();  // a model may hold buffers only (a popularity baseline)
  auto device = !params.empty()    ? params[0].device()
                : !buffers.empty() ? buffers[0].device()
                                   : torch::Device(torch::kCPU);
  auto ids = torch::arange(num_items_ + 1, torch::TensorOptions().dtype(torch::kLong));
  if (modalities_.empty()) return tower_->forward(ids.to(device), {});
  // Chunks whose gathered features take at most about 256 MB (token-level features are large).
  int64_t per_item = 0;
  for (const auto& info : modality_infos_)
    if (std::find(modalities_.begin(), modalities_.end(), info.name) != modalities_.end())
      per_item += info.tokens * info.dim * 4;
  const int64_t chunk = std::max<int64_t>(1, (int64_t(256) << 20) / std::max<int64_t>(1, per_item));
  std::vector<std::vector<torch::Tensor>> parts(branch_names_.size());
  for (int64_t begin = 0; begin <= num_items_; begin += chunk) {
    auto slice = ids.slice(0, begin, std::min(num_items_ + 1, begin + chunk));
    ItemFeatures features;
    for (const auto& m : modalities_) {
      ModalityFeatures f = gather_(m, slice);
      features[m] = {f.values.to(device), f.mask.to(device)};
    }
    auto vectors = tower_->forward(slice.to(device), tower_view(features, slice));
    for (size_t b = 0; b < vectors.size(); ++b) parts[b].push_back(vectors[b]);
  }
  std::vector<torch::Tensor> out;
  for (auto& p : parts) out.push_back(p.size() == 1 ? p[0] : torch::cat(p, 0));
  return out;
}

std::vector<ModalityInfo> modality_infos(const FeatureStore* store) {
  std::vector<ModalityInfo> out;
  if (!store) return out;
  for (const auto& name : store->names()) {
    const FeatureTable* t = store->find(name);
    out.push_back({name, t->pooled(), t->tokens(), t->dim()});
  }
  return out;
}

std::function<ModalityFeatures(const std::string&, const torch::Tensor&)> feature_gather(const FeatureStore* store) {
  return [store](const std::string& name, const torch::Tensor& item_ids) {
    const FeatureTable* t = store ? store->find(name) : nullptr;
    if (!t) throw std::invalid_argument("no modality named '" + name + "'");
    auto ids = item_ids.to(torch::kCPU, torch::kLong).contiguous();
    const int64_t n = ids.numel();
    auto values = t->pooled() ? torch::empty({n, t->dim()}, torch::kFloat)
                              : torch::empty({n, t->tokens(), t->dim()}, torch::kFloat);
    auto mask = torch::empty({n, t->tokens()}, torch::kUInt8);
    t->gather(ids.data_ptr<int64_t>(), size_t(n), values.data_ptr<float>(), mask.data_ptr<uint8_t>());
    auto m = mask.to(torch::kBool);
    return ModalityFeatures{values, t->pooled() ? m.squeeze(1) : m};
  };
}

std::vector<torch::Tensor> AssembledModel::last_states(const Batch& batch,
                                                       const std::vector<torch::Tensor>& tables) {
  std::vector<torch::Tensor> states;
  for (size_t b = 0; b < encoders_.size(); ++b) {
    torch::Tensor inputs = tables[b].index_select(0, batch.items.reshape({-1}))
                               .reshape({batch.items.size(0), batch.items.size(1), tables[b].size(1)});
    torch::Tensor h = encoders_[b]->forward(inputs, batch.valid, batch);
    states.push_back(h.select(1, h.size(1) - 1));  // left padding: the last column is the newest item
  }
  return states;
}

std::vector<OptimizerGroupRequest> AssembledModel::optimizer_groups() {
  std::vector<OptimizerGroupRequest> groups = tower_->optimizer_groups();
  if (!adapted_.empty()) groups.push_back(adapted_group_);
  for (auto& e : encoders_)
    for (auto& g : e->optimizer_groups()) groups.push_back(std::move(g));
  for (auto& o : objectives_)
    for (auto& g : o->optimizer_groups()) groups.push_back(std::move(g));
  return groups;
}

std::vector<BatchBuilder::Sample> BatchBuilder::training_samples(bool prefix) const {
  std::vector<Sample> out;
  for (int64_t u = 0; u < split_.num_users(); ++u) {
    int64_t n = split_.train_length(u);
    if (n < 2) continue;  // a single training item predicts nothing
    if (prefix)
      for (int64_t end = 1; end < n; ++end) out.push_back({int32_t(u), int32_t(end)});
    else out.push_back({int32_t(u), int32_t(n)});
  }
  return out;
}

Batch BatchBuilder::finish(torch::Tensor items, torch::Tensor targets, torch::Tensor users, bool with_features) const {
  Batch b;
  b.items = std::move(items);
  b.targets = std::move(targets);
  b.users = std::move(users);
  b.valid = b.items.ne(0);
  auto both = torch::cat({b.items.reshape({-1}), b.targets.reshape({-1})});
  auto [unique, inverse, counts] = at::_unique2(both, /*sorted=*/true, /*return_inverse=*/true);
  (void)counts;
  int64_t cells = b.items.numel();
  b.unique_items = unique;
  b.item_index = inverse.slice(0, 0, cells).reshape(b.items.sizes());
  b.target_index = inverse.slice(0, cells).reshape(b.items.sizes());
  // Evaluation reads item vectors from the catalogue table, so only training batches gather features.
  if (with_features)
    for (const auto& m : modalities_) b.features[m] = gather_(m, unique);
  return b;
}

Batch BatchBuilder::training_batch(const std::vector<Sample>& samples, size_t begin, size_t end,
                                   bool prefix) const {
  const int64_t B = int64_t(end - begin);
  // The batch is as wide as its longest window: positions count from the right (left padding), so cutting
  // columns that are padding in every row changes no output, only saves work.
  int64_t L = 1;
  for (size_t i = begin; i < end; ++i)
    L = std::max<int64_t>(L, std::min<int64_t>(max_len_, prefix ? samples[i].end : samples[i].end - 1));
  auto items = torch::zeros({B, L}, torch::kLong);
  auto targets = torch::zeros({B, L}, torch::kLong);
  auto users = torch::empty({B}, torch::kLong);
  auto* ip = items.data_ptr<int64_t>();
  auto* tp = targets.data_ptr<int64_t>();
  auto* up = users.data_ptr<int64_t>();
  for (int64_t r = 0; r < B; ++r) {
    const Sample& s = samples[begin + size_t(r)];
    const int32_t* seq = split_.train_begin(s.user);
    up[r] = s.user;
    // Inputs: seq[start, end); next items: seq[start+1, end] (all-position) or only seq[end] (prefix).
    int64_t last_target = prefix ? s.end : s.end - 1;
    int64_t count = std::min<int64_t>(L, prefix ? s.end : s.end - 1);
    int64_t start = (prefix ? s.end : s.end - 1) - count;
    for (int64_t j = 0; j < count; ++j) {
      int64_t col = L - count + j;
      ip[r * L + col] = seq[start + j];
      if (!prefix) tp[r * L + col] = seq[start + j + 1];
    }
    if (prefix) tp[r * L + L - 1] = seq[last_target];
  }
  return finish(items, targets, users, true);
}

Batch BatchBuilder::evaluation_batch(const std::vector<int32_t>& users, size_t begin, size_t end,
                                     bool test) const {
  const int64_t B = int64_t(end - begin);
  int64_t L = 1;
  for (size_t i = begin; i < end; ++i)
    L = std::max<int64_t>(L, std::min<int64_t>(max_len_, split_.input_length(users[i], test)));
  auto items = torch::zeros({B, L}, torch::kLong);
  auto targets = torch::zeros({B, L}, torch::kLong);
  auto user_ids = torch::empty({B}, torch::kLong);
  auto* ip = items.data_ptr<int64_t>();
  auto* tp = targets.data_ptr<int64_t>();
  auto* up = user_ids.data_ptr<int64_t>();
  for (int64_t r = 0; r < B; ++r) {
    int32_t u = users[begin + size_t(r)];
    up[r] = u;
    int64_t n = split_.input_length(u, test);
    int64_t count = std::min<int64_t>(L, n);
    const int32_t* h = split_.history(u);
    for (int64_t j = 0; j < count; ++j) ip[r * L + L - count + j] = h[n - count + j];
    tp[r * L + L - 1] = split_.target(u, test);
  }
  return finish(items, targets, user_ids, false);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(AssembledModel& model, const ParamSet& train,
                                                        std::vector<OptimizerGroupRequest>& groups) {
  const double lr = train.get_double("lr"), wd = train.get_double("weight_decay");
  groups = model.optimizer_groups();
  // Parameters no component claimed form the default group.
  std::vector<torch::Tensor> rest;
  for (auto& p : model.parameters()) {
    bool claimed = false;
    for (auto& g : groups)
      for (auto& q : g.parameters) claimed = claimed || q.is_same(p);
    if (!claimed && p.requires_grad()) rest.push_back(p);
  }
  auto build = [&](auto make_options) {
    std::vector<torch::optim::OptimizerParamGroup> pgs;
    pgs.emplace_back(rest, std::make_unique<decltype(make_options(lr))>(make_options(lr)));
    for (auto& g : groups)
      pgs.emplace_back(g.parameters,
                       std::make_unique<decltype(make_options(lr))>(make_options(lr * g.lr_scale)));
    return pgs;
  };
  if (train.get_string("optimizer") == "adamw") {
    auto pgs = build([&](double l) { return torch::optim::AdamWOptions(l).weight_decay(wd); });
    return std::make_unique<torch::optim::AdamW>(pgs, torch::optim::AdamWOptions(lr).weight_decay(wd));
  }
  auto pgs = build([&](double l) { return torch::optim::AdamOptions(l).weight_decay(wd); });
  return std::make_unique<torch::optim::Adam>(pgs, torch::optim::AdamOptions(lr).weight_decay(wd));
}

void apply_schedules(torch::optim::Optimizer& opt, const std::vector<OptimizerGroupRequest>& groups,
                     double lr, int64_t epoch) {
  for (size_t i = 0; i < groups.size(); ++i) {
    double scale = groups[i].lr_scale * (groups[i].schedule ? groups[i].schedule(epoch) : 1.0);
    opt.param_groups()[i + 1].options().set_lr(lr * scale);
  }
}

Batch to_device(const Batch& b, const torch::Device& device) {
  if (device.is_cpu()) return b;
  // Page-locked host copies let the copies run asynchronously with the GPU's work (LibTorch's caching host
  // allocator keeps the pinned buffers for reuse).
  auto move = [&](const torch::Tensor& t) { return t.pin_memory().to(device, /*non_blocking=*/true); };
  Batch d;
  d.items = move(b.items);
  d.valid = move(b.valid);
  d.targets = move(b.targets);
  d.users = move(b.users);
  d.unique_items = move(b.unique_items);
  d.item_index = move(b.item_index);
  d.target_index = move(b.target_index);
  for (const auto& [name, f] : b.features) d.features[name] = {move(f.values), move(f.mask)};
  return d;
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

}  // namespace mmsr
