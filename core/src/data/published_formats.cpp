// Two published layouts read as time-ordered sequences:
//   - MMRec's folders: "<name>.inter", tab-separated with the header userID itemID rating timestamp x_label, beside
//     image_feat.npy and text_feat.npy whose rows follow the 0-based itemID (so [[modality]] id_map = "token").
//     x_label (MMRec's own split) is not used: mmsr splits the time-ordered sequences itself.
//   - The Amazon Reviews 2023 benchmark CSVs, "<category>.{train,valid,test}.csv" with the header
//     user_id,parent_asin,rating,timestamp (and history in the *_w_his variants). The leave-last-out split is kept as
//     published: each user's validation and test rows are the last two of the sequence, which is what mmsr's
//     leave-one-out holds out; a file that puts a second row of a user in validation or test (the timestamp split)
//     is refused rather than silently re-split.
#include <unordered_map>

#include "reader_support.h"

namespace mmsr {
namespace {

using namespace reader_support;

// The column of a name in a header, or -1.
int column_of(const std::vector<std::string_view>& header, const std::string& name) {
  auto it = std::find(header.begin(), header.end(), name);
  return it == header.end() ? -1 : int(it - header.begin());
}

// A delimited file with a header naming its columns; next() gives each non-blank row with as many fields.
class HeaderedFile {
 public:
  HeaderedFile(const std::string& path, char separator, const std::vector<std::string>& required,
               const std::string& expected)
      : path_(path), separator_(separator), in_(open_or_throw(path)) {
    if (!std::getline(in_, header_)) throw InputError(path + ": empty file; expected the header " + expected);
    names_ = split_on(header_, separator_);
    for (const auto& name : required)
      if (column(name) < 0)
        throw InputError(located(path, 1, "the header has no column '" + name + "'; expected " + expected));
  }
  int column(const std::string& name) const { return column_of(names_, name); }
  bool next(std::vector<std::string_view>& fields) {
    while (std::getline(in_, line_)) {
      ++line_no_;
      if (line_.empty() || line_ == "\r") continue;
      fields = split_on(line_, separator_);
      if (fields.size() != names_.size())
        throw InputError(located(path_, line_no_, "expected " + std::to_string(names_.size()) + " fields, found " +
                                                      std::to_string(fields.size())));
      return true;
    }
    return false;
  }
  long line_no() const { return line_no_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  char separator_;
  std::ifstream in_;
  std::string header_, line_;
  std::vector<std::string_view> names_;
  long line_no_ = 1;
};

// One Amazon 2023 split file's rows of each user: (item, time, line, history) in file order.
struct AmazonRow {
  int32_t item;
  double time;
  long line;
  std::vector<int32_t> history;
  bool has_history;
};

void read_amazon_split(const std::string& path, Interner& users, Interner& items, bool users_may_be_new,
                       std::vector<std::vector<AmazonRow>>& rows_of_user) {
  HeaderedFile file(path, ',', {"user_id", "parent_asin", "timestamp"},
                    "'user_id,parent_asin,rating,timestamp' (and history)");
  const int user_col = file.column("user_id"), item_col = file.column("parent_asin");
  const int time_col = file.column("timestamp"), history_col = file.column("history");
  std::vector<std::string_view> f;
  while (file.next(f)) {
    auto [u, added] = users.index(f[size_t(user_col)]);
    if (added && !users_may_be_new)
      throw InputError(located(path, file.line_no(), "user '" + excerpt(f[size_t(user_col)]) +
                                                         "' has no training row; do the split files belong together?"));
    if (u >= rows_of_user.size()) rows_of_user.resize(u + 1);
    AmazonRow row{items.id(f[size_t(item_col)]), parse_timestamp(f[size_t(time_col)], path, file.line_no()),
                  file.line_no(), {}, history_col >= 0};
    if (history_col >= 0)
      for (auto t : split_ws(f[size_t(history_col)])) row.history.push_back(items.id(t));
    rows_of_user[u].push_back(std::move(row));
  }
}

// A row's history, where the file has one, must be the items before it (all of them, or the most recent ones).
void check_history(const std::vector<int32_t>& before, const AmazonRow& row, const std::string& path,
                   const std::string& user) {
  if (!row.has_history) return;
  const size_t n = row.history.size();
  if (n > before.size() || !std::equal(row.history.begin(), row.history.end(), before.end() - long(n)))
    throw InputError(located(path, row.line, "the history of user '" + user +
                                                 "' is not the items before this row in time order"));
}

// The validation and test files hold one row per user: the published leave-last-out split.
void require_one_row(const std::vector<AmazonRow>& rows, const std::string& path, const std::string& user,
                     const char* split) {
  if (rows.size() > 1)
    throw InputError(located(path, rows[1].line, "user '" + user + "' has a second " + split +
                                                     " row: this is a timestamp split, which mmsr's leave-one-out "
                                                     "protocol would not keep as published; use the last_out files"));
  if (rows.empty())
    throw InputError(path + ": user '" + user + "' has no " + split + " row; do the split files belong together?");
}

}  // namespace

RawSequences read_mmrec(const std::string& path) {
  HeaderedFile file(path, '\t', {"userID", "itemID", "timestamp"}, "'userID itemID rating timestamp x_label' (tabs)");
  const int user_col = file.column("userID"), item_col = file.column("itemID"), time_col = file.column("timestamp");
  RawSequences raw;
  raw.source = path;
  Interner items(raw.item_tokens), users(raw.user_tokens);
  Events events;
  std::vector<std::string_view> f;
  while (file.next(f))
    events.add(int32_t(users.index(f[size_t(user_col)]).first), items.id(f[size_t(item_col)]),
               parse_timestamp(f[size_t(time_col)], path, file.line_no()));
  sequences_from_events(raw, events);
  require_nonempty(raw, path);
  return raw;
}

std::vector<std::string> amazon2023_files(const std::string& prefix) {
  return {prefix + ".train.csv", prefix + ".valid.csv", prefix + ".test.csv"};
}

RawSequences read_amazon2023(const std::string& prefix) {
  const std::vector<std::string> files = amazon2023_files(prefix);
  RawSequences raw;
  raw.source = files[0];
  Interner items(raw.item_tokens), users(raw.user_tokens);
  std::vector<std::vector<AmazonRow>> train, valid, test;
  read_amazon_split(files[0], users, items, true, train);
  read_amazon_split(files[1], users, items, false, valid);
  read_amazon_split(files[2], users, items, false, test);
  valid.resize(train.size()), test.resize(train.size());
  raw.sequences.resize(train.size());
  for (size_t u = 0; u < train.size(); ++u) {
    const std::string& user = raw.user_tokens[u];
    require_one_row(valid[u], files[1], user, "validation");
    require_one_row(test[u], files[2], user, "test");
    std::stable_sort(train[u].begin(), train[u].end(),
                     [](const AmazonRow& a, const AmazonRow& b) { return a.time < b.time; });
    auto& seq = raw.sequences[u];
    auto append = [&](const AmazonRow& row, const std::string& path) {
      check_history(seq, row, path, user);
      seq.push_back(row.item);
    };
    for (const auto& row : train[u]) append(row, files[0]);
    append(valid[u][0], files[1]);
    append(test[u][0], files[2]);
  }
  require_nonempty(raw, raw.source);
  return raw;
}

}  // namespace mmsr
