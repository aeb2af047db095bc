#include "model/model.h"

#include <ATen/ATen.h>

#include <algorithm>

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
  if (encoders_.size() > 1 && encoders_[0]->bidirectional())
    throw InputError("backbone '" + run.backbone.plugin + "' trains on targets of its own choosing (a Cloze task), " +
                     "so it needs an item tower with one branch; '" + t->name + "' has " +
                     std::to_string(encoders_.size()) + ": use a tower with a single branch");
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
  // A run assembled in code without a [train] section has the defaults: nothing adapted.
  const TrainOptions options = train_options(train);
  for (const auto& name : options.adapt) {
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
  adapted_group_.lr_scale = options.adapt_lr_scale;
  const std::vector<int64_t> milestones = options.adapt_milestones;
  const double gamma = options.adapt_gamma;
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
  // Each distinct item of the batch goes through the tower once; slots gather their rows. Losses score against
  // the tower's output vectors, which are the same unless its items have output vectors of their own.
  std::vector<torch::Tensor> unique_vectors = tower_->forward(view->unique_items, tower_features);
  std::vector<torch::Tensor> scored_vectors = tower_->output_vectors(view->unique_items, tower_features);
  if (scored_vectors.empty()) scored_vectors = unique_vectors;
  ForwardOutput out;
  Batch with_own_targets;
  out.batch = view;
  out.log_popularity = log_popularity;
  out.progress = progress;
  for (size_t b = 0; b < encoders_.size(); ++b) {
    const auto& u = unique_vectors[b];
    torch::Tensor inputs = u.index_select(0, view->item_index.reshape({-1}))
                               .reshape({view->items.size(0), view->items.size(1), u.size(1)});
    TrainingView step = encoders_[b]->train_forward(inputs, view->valid, *view);
    if (step.targets.defined()) {  // a task of the encoder's own (one branch, checked at assembly)
      with_own_targets = *view;
      with_own_targets.targets = step.targets;
      // Every chosen target is an item of the batch, so it has a row among the batch's distinct items.
      with_own_targets.target_index = torch::searchsorted(view->unique_items, step.targets);
      out.batch = &with_own_targets;
    }
    out.branches.push_back({branch_names_[b], step.states, scored_vectors[b]});
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

AssembledModel::ItemTables AssembledModel::item_tables() { return catalogue(true); }

std::vector<torch::Tensor> AssembledModel::all_item_vectors() { return catalogue(false).outputs; }

AssembledModel::ItemTables AssembledModel::catalogue(bool inputs) {
  auto params = parameters();
  auto buffers = this->buffers();  // a model may hold buffers only (a popularity baseline)
  auto device = !params.empty()    ? params[0].device()
                : !buffers.empty() ? buffers[0].device()
                                   : torch::Device(torch::kCPU);
  auto ids = torch::arange(num_items_ + 1, torch::TensorOptions().dtype(torch::kLong));
  // Chunks whose gathered features take at most about 256 MB (token-level features are large); one without them.
  int64_t per_item = 0;
  for (const auto& info : modality_infos_)
    if (std::find(modalities_.begin(), modalities_.end(), info.name) != modalities_.end())
      per_item += info.tokens * info.dim * 4;
  const int64_t chunk = modalities_.empty() ? num_items_ + 1
                                            : std::max<int64_t>(1, (int64_t(256) << 20) / std::max<int64_t>(1, per_item));
  std::vector<std::vector<torch::Tensor>> in_parts(branch_names_.size()), out_parts(branch_names_.size());
  bool separate = false;  // whether the tower's items have output vectors of their own
  for (int64_t begin = 0; begin <= num_items_; begin += chunk) {
    auto slice = ids.slice(0, begin, std::min(num_items_ + 1, begin + chunk)).to(device);
    ItemFeatures features;
    for (const auto& m : modalities_) {
      ModalityFeatures f = gather_(m, slice);
      features[m] = {f.values.to(device), f.mask.to(device)};
    }
    const ItemFeatures view = tower_view(features, slice);
    std::vector<torch::Tensor> in, out = tower_->output_vectors(slice, view);
    separate = !out.empty();
    if (inputs || !separate) in = tower_->forward(slice, view);
    for (size_t b = 0; b < in.size(); ++b) in_parts[b].push_back(in[b]);
    for (size_t b = 0; b < out.size(); ++b) out_parts[b].push_back(out[b]);
  }
  auto joined = [](std::vector<std::vector<torch::Tensor>>& parts) {
    std::vector<torch::Tensor> out;
    for (auto& p : parts)
      if (!p.empty()) out.push_back(p.size() == 1 ? p[0] : torch::cat(p, 0));
    return out;
  };
  ItemTables t{joined(in_parts), joined(out_parts)};
  if (!separate) t.outputs = t.inputs;  // a tied tower scores against its inputs: one table, not two copies
  return t;
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
                                                       const std::vector<torch::Tensor>& input_tables) {
  std::vector<torch::Tensor> states;
  for (size_t b = 0; b < encoders_.size(); ++b) {
    const torch::Tensor& table = input_tables[b];
    torch::Tensor inputs = table.index_select(0, batch.items.reshape({-1}))
                               .reshape({batch.items.size(0), batch.items.size(1), table.size(1)});
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

// What every plugin factory of a run is told about the data.
BuildContext build_context(const Experiment& ex, const RunSpec& run, const Dataset& data,
                           const Split& split) {
  BuildContext context;
  context.num_items = data.num_items();
  context.max_len = protocol_options(ex.protocol).max_len;
  context.fast_dropout = train_options(run.train).fast_dropout;
  context.item_counts = &split.item_counts();
  context.valid_target_counts = &split.valid_target_counts();
  context.item_attributes = &data.attributes;
  context.modalities = modality_infos(data.modalities.get());
  context.gather = feature_gather(data.modalities.get());
  return context;
}

}  // namespace mmsr
