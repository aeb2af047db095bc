// Two published layouts read as time-ordered sequences:
//   - MMRec's folders: "<name>.inter", tab-separated with the header userID itemID rating timestamp x_label, beside
//     image_feat.npy and text_feat.npy whose rows follow the 0-based itemID (so [[modality]] id_map = "token").
//     x_label (MMRec's own split: 0 training, 1 validation, 2 test) becomes the published parts ([protocol] split =
//     "published"); other splits re-split the time-ordered sequences.
//   - The Amazon Reviews 2023 benchmark CSVs, "<category>.{train,valid,test}.csv" with the header
//     user_id,parent_asin,rating,timestamp (and history in the *_w_his variants), leave-last-out or timestamp split.
//     Each user's sequence is its training rows, then its validation rows, then its test rows, each in time order,
//     and the file a row came from is its published part: split = "published" keeps the files' split as it is (for
//     the leave-last-out files, leave-one-out holds out the same items).
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

void read_amazon_split(const std::string& path, Interner& users, Interner& items,
                       std::vector<std::vector<AmazonRow>>& rows_of_user) {
  HeaderedFile file(path, ',', {"user_id", "parent_asin", "timestamp"},
                    "'user_id,parent_asin,rating,timestamp' (and history)");
  const int user_col = file.column("user_id"), item_col = file.column("parent_asin");
  const int time_col = file.column("timestamp"), history_col = file.column("history");
  std::vector<std::string_view> f;
  while (file.next(f)) {
    const size_t u = users.index(f[size_t(user_col)]).first;
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

// The rows of a MMRec x_label value: 0, 1 or 2.
uint8_t mmrec_part(std::string_view field, const std::string& path, long line_no) {
  if (field == "0" || field == "1" || field == "2") return uint8_t(field[0] - '0');
  throw InputError(located(path, line_no, "x_label '" + excerpt(field) +
                                              "' is not 0 (training), 1 (validation) or 2 (test)"));
}

}  // namespace

RawSequences read_mmrec(const std::string& path) {
  HeaderedFile file(path, '\t', {"userID", "itemID", "timestamp"}, "'userID itemID rating timestamp x_label' (tabs)");
  const int user_col = file.column("userID"), item_col = file.column("itemID"), time_col = file.column("timestamp");
  const int part_col = file.column("x_label");
  RawSequences raw;
  raw.source = path;
  Interner items(raw.item_tokens), users(raw.user_tokens);
  Events events;
  std::vector<std::string_view> f;
  while (file.next(f)) {
    events.add(int32_t(users.index(f[size_t(user_col)]).first), items.id(f[size_t(item_col)]),
               parse_timestamp(f[size_t(time_col)], path, file.line_no()));
    if (part_col >= 0) events.part.push_back(mmrec_part(f[size_t(part_col)], path, file.line_no()));
  }
  sequences_from_events(raw, events, true);
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
  std::vector<std::vector<AmazonRow>> rows[3];  // per part, per user
  for (uint8_t part : {kTrainPart, kValidPart, kTestPart}) read_amazon_split(files[part], users, items, rows[part]);
  const size_t n_users = raw.user_tokens.size();
  raw.sequences.resize(n_users), raw.times.resize(n_users), raw.parts.resize(n_users);
  for (size_t u = 0; u < n_users; ++u)
    for (uint8_t part : {kTrainPart, kValidPart, kTestPart}) {
      if (u >= rows[part].size()) continue;
      auto& of_user = rows[part][u];
      std::stable_sort(of_user.begin(), of_user.end(),
                       [](const AmazonRow& a, const AmazonRow& b) { return a.time < b.time; });
      for (const auto& row : of_user) {
        check_history(raw.sequences[u], row, files[part], raw.user_tokens[u]);
        raw.sequences[u].push_back(row.item);
        raw.times[u].push_back(row.time);
        raw.parts[u].push_back(part);
      }
    }
  require_nonempty(raw, raw.source);
  return raw;
}

}  // namespace mmsr
