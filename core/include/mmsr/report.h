// Leaderboards from one or more stores: one board per (dataset, protocol hash), never mixed; one row per model
// configuration with the mean and standard deviation of its test metrics over seeds.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
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
  // The board's selection metric (e.g. ndcg@10) on the test split, mean and std over seeds: per branch of
  // multi-branch models (id, text, image, fused), and per popularity group of the target for the ranked score.
  std::map<std::string, std::pair<double, double>> by_branch;
  std::map<int64_t, std::pair<double, double>> by_group;
  std::map<int64_t, int64_t> group_users;
};

struct Leaderboard {
  std::string dataset_name, dataset_checksum, protocol_hash, protocol_json;
  std::vector<LeaderboardRow> rows;
};

std::vector<Leaderboard> build_leaderboards(const ReportOptions& options);
std::string render(const std::vector<Leaderboard>& boards, const std::string& format);

}  // namespace mmsr
