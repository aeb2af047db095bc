#include "optimizer.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

namespace mmsr {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(AssembledModel& model, const ParamSet& train,
                                                        std::vector<OptimizerGroupRequest>& groups) {
  const TrainOptions options = train_options(train);
  const double lr = options.lr, wd = options.weight_decay;
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
  if (options.optimizer == "adamw") {
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

}  // namespace mmsr
