#include "mmsr/split.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "mmsr/errors.h"

namespace mmsr {

Split::Split(const Dataset& data, const SplitOptions& options)
    : data_(&data), item_counts_(size_t(data.num_items() + 1), 0), valid_target_counts_(size_t(data.num_items() + 1), 0) {
  if (options.kind == "leave_one_out") cut_leave_one_out();
  else if (options.kind == "temporal") cut_temporal(options);
  else if (options.kind == "published") cut_published();
  else throw std::logic_error("unknown split '" + options.kind + "'");
  for (size_t u = 0; u < data.sequences.size(); ++u) {
    const auto& s = data.sequences[u];
    for (int32_t t = 0; t < train_end_[u]; ++t) ++item_counts_[size_t(s[size_t(t)])];
    for (int32_t t = train_end_[u]; t < valid_end_[u]; ++t) ++valid_target_counts_[size_t(s[size_t(t)])];
  }
  collect_events(options.kind == "leave_one_out" ? "every" : options.targets);
  const std::string what = data.name.empty() ? std::string("the data") : "data '" + data.name + "'";
  for (bool test : {false, true})
    if (events_[test].empty())
      throw InputError("[protocol].split = \"" + options.kind + "\": " + what + " has no " +
                       (test ? "test" : "validation") + " event with an earlier item to rank it from; move the cut (" +
                       (test ? "test_start or test_share" : "valid_start or valid_share") + ")");
  summarise(options);
}

void Split::cut_leave_one_out() {
  for (const auto& s : data_->sequences) {
    if (s.size() < 3) throw std::logic_error("leave-one-out needs at least 3 interactions per user");
    train_end_.push_back(int32_t(s.size()) - 2);
    valid_end_.push_back(int32_t(s.size()) - 1);
  }
}

namespace {

// The timestamp where the last `share` of all interactions (sorted times) begins.
double time_where_last_share_begins(const std::vector<double>& all, double share) {
  const double at = std::floor(double(all.size()) * (1.0 - share));
  return all[std::min(all.size() - 1, size_t(std::max(0.0, at)))];
}

// The share of interactions at or after `start`.
double share_from(const std::vector<double>& all, double start) {
  return double(all.end() - std::lower_bound(all.begin(), all.end(), start)) / double(all.size());
}

// The first position of a time-ordered list at or after `start`.
int32_t first_at_or_after(const std::vector<double>& times, double start) {
  return int32_t(std::lower_bound(times.begin(), times.end(), start) - times.begin());
}

}  // namespace

void Split::cut_temporal(const SplitOptions& o) {
  if (data_->times.empty())
    throw InputError("[protocol].split = \"temporal\": the data has no timestamps (its format carries none); use a "
                     "format with a time column (recbole .inter with timestamp, sasrec with a third column, mmrec, "
                     "amazon2023) or split = \"leave_one_out\"");
  const std::vector<double> all = data_->sorted_times();
  test_start_ = o.test_start > 0 ? o.test_start : time_where_last_share_begins(all, o.test_share);
  // The validation period's share counts back from where the test period begins.
  valid_start_ = o.valid_start > 0 ? o.valid_start
                                   : time_where_last_share_begins(all, o.valid_share + share_from(all, test_start_));
  if (valid_start_ > test_start_)
    throw InputError("[protocol]: the validation period would begin after the test period (valid_start " +
                     std::to_string(valid_start_) + " > test_start " + std::to_string(test_start_) +
                     "); give valid_start before test_start");
  for (size_t u = 0; u < data_->times.size(); ++u)
    if (!std::is_sorted(data_->times[u].begin(), data_->times[u].end()))
      throw InputError("[protocol].split = \"temporal\": the interactions of user '" + data_->user_tokens[u] +
                       "' are not in time order in the data (its published parts put a later time first); use "
                       "split = \"published\"");
  for (const auto& t : data_->times) {
    train_end_.push_back(first_at_or_after(t, valid_start_));
    valid_end_.push_back(first_at_or_after(t, test_start_));
  }
}

void Split::cut_published() {
  if (data_->parts.empty())
    throw InputError("[protocol].split = \"published\": the data files ship no split of their own; use format "
                     "\"amazon2023\" or \"mmrec\" (with x_label), or split = \"temporal\" / \"leave_one_out\"");
  for (size_t u = 0; u < data_->parts.size(); ++u) {
    const auto& p = data_->parts[u];
    if (!std::is_sorted(p.begin(), p.end()))
      throw InputError("[protocol].split = \"published\": user '" + data_->user_tokens[u] +
                       "' has a training or validation interaction after a later part's in time; the published "
                       "split is not a cut of time-ordered sequences (use split = \"temporal\")");
    train_end_.push_back(int32_t(std::lower_bound(p.begin(), p.end(), kValidPart) - p.begin()));
    valid_end_.push_back(int32_t(std::lower_bound(p.begin(), p.end(), kTestPart) - p.begin()));
  }
}

// The events of each period under the targets rule. A position without an earlier item has nothing to rank from and
// is counted, not evaluated; "first" takes the first position that has one.
void Split::collect_events(const std::string& targets) {
  for (size_t u = 0; u < data_->sequences.size(); ++u) {
    const int32_t n = int32_t(data_->sequences[u].size());
    const int32_t bounds[2][2] = {{train_end_[u], valid_end_[u]}, {valid_end_[u], n}};
    for (bool test : {false, true}) {
      const int32_t begin = bounds[test][0], end = bounds[test][1];
      if (begin == end) continue;
      without_history_[test] += begin == 0;
      const int32_t first = std::max(begin, 1);
      if (first >= end) continue;
      auto& out = events_[test];
      if (targets == "first") out.push_back({int32_t(u), first});
      else if (targets == "last") out.push_back({int32_t(u), end - 1});
      else
        for (int32_t p = first; p < end; ++p) out.push_back({int32_t(u), p});
    }
  }
}

void Split::summarise(const SplitOptions& o) {
  nlohmann::json j;
  j["kind"] = o.kind;
  if (o.kind != "leave_one_out") j["targets"] = o.targets;
  if (o.kind == "temporal") j["valid_start"] = valid_start_, j["test_start"] = test_start_;
  int64_t training = 0;
  for (int32_t n : train_end_) training += n;
  j["training_interactions"] = training;
  for (bool test : {false, true}) {
    const char* part = test ? "test" : "valid";
    int64_t cold = 0;
    for (const auto& e : events_[test]) cold += item_counts_[size_t(target(e))] == 0;
    j[std::string(part) + "_events"] = int64_t(events_[test].size());
    int64_t users = 0;  // events come by user
    for (size_t i = 0; i < events_[test].size(); ++i) users += i == 0 || events_[test][i].user != events_[test][i - 1].user;
    j[std::string(part) + "_users"] = users;
    j[std::string("cold_") + part + "_targets"] = cold;
    j[std::string(part) + "_users_without_history"] = without_history_[test];
  }
  summary_json_ = j.dump();
}

}  // namespace mmsr
