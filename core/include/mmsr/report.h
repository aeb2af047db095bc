// Leaderboards from one or more results stores: one board per (dataset, protocol hash), never mixed; one row per
// model configuration with its test metrics over seeds (mean, standard deviation, 95% interval), the paired
// significance of its difference from the board's reference row over users, and the breakdowns the HTML page plots
// (branches, popularity groups, training curves, cost, hyper-parameter axes). docs/reports.md explains how to read it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mmsr/stats.h"

namespace mmsr {

struct ReportOptions {
  std::vector<std::string> stores;
  std::string format = "md";  // md | html | csv | json
  std::string split = "test";
  std::string branch = "fused";
  // The row every other row is compared with: a model name or a row label ("Model (grid)"); a model with several
  // configurations is represented by the one with the best validation score. Empty: the row with the best
  // validation score on the board.
  std::string baseline;
  double alpha = 0.05;  // significance level after Holm's correction
};

// A row compared with its board's reference on one metric, over users (metrics of the common seeds averaged per
// user first, so each user is one pair).
struct Comparison {
  double improvement = 0;  // (row mean - reference mean) / reference mean, as a fraction
  stats::PairedTest wilcoxon, t;
  double wilcoxon_holm = 1, t_holm = 1;  // Holm-adjusted over every comparison of the board
  size_t users = 0;
  std::vector<unsigned long long> seeds;  // the seeds paired (empty when the rows share none: all seeds, averaged)
};

struct EpochPoint {
  int64_t epoch = 0;
  double loss = 0;
  std::map<std::string, double> terms;  // loss terms by name
  double valid = 0;                     // validation selection metric; NaN when not evaluated that epoch
  size_t seeds = 0;                     // runs averaged at this epoch
};

struct LeaderboardRow {
  std::string model, grid_label, config_key, config_json;
  std::vector<unsigned long long> seeds;
  std::vector<std::string> metric_labels;
  std::vector<double> mean, stdev;             // per metric label (sample standard deviation; 0 for one seed)
  std::vector<stats::Summary> summary;         // the same with the 95% interval
  std::vector<int> place;                      // per metric: 1 = best mean on the board, 2 = second, else 0
  stats::Summary valid_select;                 // validation score of the selection metric
  bool selected = false;                       // best validation score among the rows of its model name
  double mean_train_seconds = 0, mean_peak_rss_mb = 0, mean_best_epoch = 0;
  // Seeds whose model was chosen at the last epoch its budget allowed ([train].epochs): still improving when
  // training ended, so the row reports a budget, not a converged model.
  int capped_seeds = 0;
  int64_t epoch_budget = 0;
  stats::Summary tied_share;                   // share of test targets tied with at least one candidate
  // The selection metric on the test split per branch of multi-branch models (id, text, image, fused) and per
  // popularity group of the target (0 = never seen in training).
  std::map<std::string, std::pair<double, double>> by_branch;
  std::map<int64_t, std::pair<double, double>> by_group;
  std::map<int64_t, int64_t> group_users;
  // Beyond-accuracy metrics of the test's top-K lists at the selection metric's K ("coverage@10", "popularity@10",
  // "novelty@10", "diversity@10"; eval/beyond.h), over seeds; empty for runs recorded without them.
  std::map<std::string, stats::Summary> beyond;
  std::vector<EpochPoint> curve;               // mean over seeds per epoch
  std::vector<Comparison> vs_reference;        // per metric label; empty for the reference row itself
  std::string label() const { return grid_label.empty() ? model : model + " (" + grid_label + ")"; }
};

// A hyper-parameter that varies among the configurations of one model on a board.
struct GridAxis {
  std::string model, parameter;
  // One line per combination of the model's other varying parameters: (value, validation mean, test mean).
  struct Point {
    std::string value;
    double valid = 0, test = 0;
  };
  std::map<std::string, std::vector<Point>> lines;
};

struct Leaderboard {
  std::string dataset_name, dataset_checksum, dataset_source, dataset_stats_json, protocol_hash, protocol_json;
  std::string select;         // the selection metric label, e.g. "ndcg@10"
  std::string split, branch;  // what the cells show
  std::vector<LeaderboardRow> rows;
  int reference = -1;         // index of the reference row; -1 when the board has one row
  std::string reference_rule;  // how the reference was chosen, in words
  std::vector<GridAxis> axes;
  double alpha = 0.05;
  // The distinct runs.inputs of the board's runs (the files read, their hashes and feature provenance); empty for
  // stores written before schema 5. More than one: the runs did not all read the same files.
  std::vector<std::string> inputs_json;
  // What the protocol's split made of the data (runs.split; mmsr/split.h), from the board's first run that recorded
  // it; "" for a store written before schema 6.
  std::string split_json;
};

std::vector<Leaderboard> build_leaderboards(const ReportOptions& options);
// md | html | csv | json. The HTML page is self-contained (styles and the plotting library embedded).
std::string render(const std::vector<Leaderboard>& boards, const std::string& format);

// Compares two JSON reports (render(..., "json")) row by row: configurations matched by dataset, protocol and
// configuration identity; Markdown listing added and removed rows and every metric that moved.
std::string diff_reports(const std::string& old_json, const std::string& new_json, const std::string& old_name,
                         const std::string& new_name);

}  // namespace mmsr
