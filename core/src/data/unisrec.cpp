// UniSRec pre-split files, "<prefix>.{train,valid,test}.inter": rows of user, history, target. The published files
// keep only the most recent items of a history (50 in UniSRec's processing), so a row is a window of the user's
// sequence ending just before its target, not a prefix. The sequence is rebuilt by chaining the windows: the
// training rows in position order (the files list a user's rows first to last or last to first), then the
// validation row, then the test row, each window checked to end exactly where the items before it end.
#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "reader_support.h"

namespace mmsr {
namespace {

using namespace reader_support;

struct Window {
  std::vector<int32_t> history;
  int32_t target;
  long line;
  const std::string* path;
};

// Reads every row of one file, interning its tokens; on_row(user, window) takes each.
template <typename OnRow>
void read_windows(const std::string& path, Interner& items, OnRow&& on_row) {
  auto in = open_or_throw(path);
  std::string line;
  long line_no = 1;
  if (!std::getline(in, line)) throw InputError(path + ": empty file");
  if (line.rfind("user_id", 0) != 0)
    throw InputError(located(path, 1, "expected the header 'user_id:token\\titem_id_list:token_seq\\titem_id:token'"));
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    auto fields = split_tabs(line);
    if (fields.size() != 3)
      throw InputError(located(path, line_no, "expected 3 tab-separated fields, found " + std::to_string(fields.size())));
    Window w{{}, 0, line_no, &path};
    for (auto t : split_ws(fields[1])) w.history.push_back(items.id(t));
    w.target = items.id(fields[2]);
    on_row(fields[0], std::move(w));
  }
}

// Whether a window's history ends with these items, or holds them at its end when it reaches further back.
bool continues(const std::vector<int32_t>& items, const std::vector<int32_t>& history) {
  const size_t n = history.size();
  return n <= items.size() ? std::equal(history.begin(), history.end(), items.end() - long(n))
                           : std::equal(items.begin(), items.end(), history.end() - long(items.size()));
}

// Whether `next` is the window that follows `previous`: one position later, so one item longer until the window is
// full (a repeated item can make a shorter history match too; its length tells the positions apart).
bool follows(const Window& previous, const Window& next, size_t window) {
  std::vector<int32_t> items = previous.history;
  items.push_back(previous.target);
  return next.history.size() == std::min(items.size(), window) && continues(items, next.history);
}

// A user's training rows in position order: as listed, or reversed when the file lists them last to first.
void order_training_rows(std::vector<Window>& rows, size_t window) {
  auto chained = [&] {
    for (size_t i = 1; i < rows.size(); ++i)
      if (!follows(rows[i - 1], rows[i], window)) return false;
    return true;
  };
  if (rows.size() < 2 || chained()) return;
  std::reverse(rows.begin(), rows.end());
  if (!chained()) std::reverse(rows.begin(), rows.end());  // neither: the chaining below names the row
}

// Appends one window to the sequence: its history must end with the items so far (or, when the window reaches
// further back than them, hold them at its end, which adds the earlier items). The history is as long as the items
// so far, or as the window when they are more (the window: the files' longest history).
void chain(std::vector<int32_t>& seq, const Window& w, size_t window, const std::string& user,
           const std::vector<std::string>& tokens) {
  const size_t n = w.history.size();
  const bool expected_length = seq.empty() || n == std::min(seq.size(), window) || (n > seq.size() && n == window);
  if (!expected_length || !continues(seq, w.history)) {
    const std::string earlier = seq.empty() ? "nothing" : "'" + tokens[size_t(seq.back())] + "'";
    const std::string here = n ? "'" + tokens[size_t(w.history.back())] + "'" : "nothing";
    throw InputError(located(*w.path, w.line, "the history of user '" + user + "' does not continue the user's earlier "
                             "rows (they end with " + earlier + ", this history with " + here + "): windows that "
                             "disagree or a missing row; do the split files belong together?"));
  }
  if (n > seq.size()) seq = w.history;
  seq.push_back(w.target);
}

}  // namespace

std::vector<std::string> unisrec_files(const std::string& prefix) {
  std::vector<std::string> files = {prefix + ".test.inter", prefix + ".valid.inter"};
  if (std::filesystem::exists(prefix + ".train.inter")) files.push_back(prefix + ".train.inter");
  return files;
}

RawSequences read_unisrec(const std::string& prefix) {
  const std::vector<std::string> files = unisrec_files(prefix);
  RawSequences raw;
  raw.source = files[0];
  Interner items(raw.item_tokens), users(raw.user_tokens);
  // Users in the test file's order; their items interned test rows first (a full-history test file then numbers the
  // items as the rows list them).
  std::vector<Window> test, valid;
  std::vector<std::vector<Window>> training;
  read_windows(files[0], items, [&](std::string_view user, Window w) {
    if (!users.index(user).second)
      throw InputError(located(files[0], w.line, "user '" + std::string(user) + "' has two test rows"));
    test.push_back(std::move(w));
  });
  valid.resize(test.size());
  training.resize(test.size());
  auto index_of = [&](std::string_view user, const Window& w, const char* row) {
    const int64_t u = users.find(user);
    if (u < 0)
      throw InputError(located(*w.path, w.line, "user '" + std::string(user) + "' has a " + row + " row but no test row"));
    return size_t(u);
  };
  read_windows(files[1], items, [&](std::string_view user, Window w) {
    const size_t u = index_of(user, w, "validation");
    if (valid[u].path) throw InputError(located(files[1], w.line, "user '" + std::string(user) + "' has two validation rows"));
    valid[u] = std::move(w);
  });
  if (files.size() > 2)
    read_windows(files[2], items, [&](std::string_view user, Window w) {
      training[index_of(user, w, "training")].push_back(std::move(w));
    });
  size_t window = 0;  // the longest history of the files: where the publisher cut them, if anywhere
  for (size_t u = 0; u < test.size(); ++u) {
    window = std::max({window, test[u].history.size(), valid[u].history.size()});
    for (const auto& w : training[u]) window = std::max(window, w.history.size());
  }
  raw.sequences.resize(test.size());
  for (size_t u = 0; u < test.size(); ++u) {
    if (!valid[u].path)
      throw InputError(located(files[0], test[u].line, "user '" + raw.user_tokens[u] + "' has no validation row"));
    order_training_rows(training[u], window);
    auto& seq = raw.sequences[u];
    for (const auto& w : training[u]) chain(seq, w, window, raw.user_tokens[u], raw.item_tokens);
    chain(seq, valid[u], window, raw.user_tokens[u], raw.item_tokens);
    chain(seq, test[u], window, raw.user_tokens[u], raw.item_tokens);
  }
  require_nonempty(raw, raw.source);
  return raw;
}

}  // namespace mmsr
