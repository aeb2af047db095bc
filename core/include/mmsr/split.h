// How a protocol splits each user's sequence (METHODS.md section 1): a training prefix, then a validation period,
// then a test period, and the evaluation events of each period. Three ways to cut:
//   - leave_one_out: the last item is the test period, the second-to-last the validation period;
//   - temporal: one global timeline for everyone, cut at two timestamps (given, or the times below which a share of
//     all interactions lies), so that no training interaction is later than any test one;
//   - published: the parts the data files ship with (the Amazon Reviews 2023 timestamp split, MMRec's x_label).
// An evaluation event ranks one target given everything the user did before it; nothing is retrained on the
// validation period, so a test event's input includes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmsr/dataset.h"

namespace mmsr {

struct SplitOptions {
  std::string kind = "leave_one_out";        // leave_one_out, temporal, published
  double valid_start = 0, test_start = 0;    // temporal: where the periods begin (0 = from the shares)
  double valid_share = 0.1, test_share = 0.1;  // temporal: shares of all interactions in each period, by time
  std::string targets = "every";             // temporal, published: every, first or last event of a user's period
};

// One evaluation: the item at `position` of the user's sequence is the target; the items before it are the input.
struct EvaluationEvent {
  int32_t user;
  int32_t position;
};

class Split {
 public:
  // The split of `data` the options describe. InputError when the data cannot be split so: no timestamps for a
  // temporal split, no published parts, parts out of time order, an empty validation or test period.
  Split(const Dataset& data, const SplitOptions& options);
  // Leave-one-out, for data whose users all have at least 3 interactions.
  explicit Split(const Dataset& data) : Split(data, SplitOptions()) {}

  int64_t num_users() const { return int64_t(data_->sequences.size()); }
  int64_t num_items() const { return data_->num_items(); }
  // Training part of user u: the first train_length(u) items (possibly none under a temporal split).
  const int32_t* train_begin(int64_t u) const { return data_->sequences[u].data(); }
  int64_t train_length(int64_t u) const { return train_end_[size_t(u)]; }
  const int32_t* history(int64_t u) const { return data_->sequences[u].data(); }

  // The validation (test = false) or test events, by user then position; under leave-one-out event i is user i's.
  const std::vector<EvaluationEvent>& events(bool test) const { return events_[test]; }
  int32_t target(const EvaluationEvent& e) const { return data_->sequences[size_t(e.user)][size_t(e.position)]; }

  // Frequency of each item id in the training parts (size N+1; index 0 unused).
  const std::vector<int64_t>& item_counts() const { return item_counts_; }
  // How often each item id occurs in the validation periods (size N+1): what a test input holds beyond training.
  const std::vector<int64_t>& valid_target_counts() const { return valid_target_counts_; }
  const Dataset& data() const { return *data_; }
  // What the protocol card says of the split (JSON object): its kind, cuts, event counts, targets never seen in
  // training, events left out because nothing came before them.
  const std::string& summary_json() const { return summary_json_; }

 private:
  void cut_leave_one_out();
  void cut_temporal(const SplitOptions& options);
  void cut_published();
  void collect_events(const std::string& targets);
  void summarise(const SplitOptions& options);

  const Dataset* data_;
  std::vector<int32_t> train_end_, valid_end_;  // per user: the validation period is [train_end, valid_end)
  std::vector<EvaluationEvent> events_[2];
  std::vector<int64_t> item_counts_;
  std::vector<int64_t> valid_target_counts_;
  double valid_start_ = 0, test_start_ = 0;  // temporal: the cuts used
  int64_t without_history_[2] = {0, 0};
  std::string summary_json_;
};

}  // namespace mmsr
