// Leaderboards from one or more stores: one board per (dataset, protocol hash), never mixed; one row per model
// configuration with the mean and standard deviation of its test metrics over seeds.
#pragma once

#include <string>
#include <vector>

namespace mmsr {

struct ReportOptions {
  std::vector<std::string> stores;
  std::string format = "md";  // md | csv | json
  std::string split = "test";
  std::string branch = "fused";
};

struct LeaderboardRow {
  std::string model, grid_label, config_key;
  std::vector<unsigned long long> seeds;
  std::vector<std::string> metric_labels;
  std::vector<double> mean, stdev;  // sample standard deviation (n - 1); 0 for one seed
  double mean_train_seconds = 0;
  double mean_best_epoch = 0;
};

struct Leaderboard {
  std::string dataset_name, dataset_checksum, protocol_hash, protocol_json;
  std::vector<LeaderboardRow> rows;
};

std::vector<Leaderboard> build_leaderboards(const ReportOptions& options);
std::string render(const std::vector<Leaderboard>& boards, const std::string& format);

}  // namespace mmsr
