// The run's optimizer: Adam or AdamW with a parameter group per component that asks for one.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "mmsr/sdk/params.h"
#include "model/model.h"

namespace mmsr {

// Adam or AdamW over the model: group 0 holds every parameter no component claimed; group i + 1 is the
// i-th requested group (filled into `groups`), with lr * lr_scale.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(AssembledModel& model, const ParamSet& train,
                                                        std::vector<OptimizerGroupRequest>& groups);
// Sets each requested group's learning rate for a (1-based) epoch: lr * lr_scale * schedule(epoch).
void apply_schedules(torch::optim::Optimizer& optimizer, const std::vector<OptimizerGroupRequest>& groups,
                     double lr, int64_t epoch);

}  // namespace mmsr
