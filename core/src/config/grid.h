// The grid expander (see grid.cpp). Internal to core/src/config.
#pragma once

#include "config/reader.h"

namespace mmsr::config_detail {

// Reads [train] and every [[model]] table and appends one run per grid point and seed to ex.runs (ex.seeds must
// be read already).
void read_models(const Parser& p, const toml::table& root, Experiment& ex, TrainDefaults defaults);

}  // namespace mmsr::config_detail
