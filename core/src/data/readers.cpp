#include "mmsr/readers.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "mmsr/errors.h"
#include "mmsr/input_files.h"
#include "mmsr/rng.h"
#include "reader_support.h"

namespace mmsr {
namespace {

using namespace reader_support;

// A RecBole atomic file: a typed header ("name:type" fields, tab-separated), then rows with as many fields.
class AtomicFile {
 public:
  AtomicFile(const std::string& path, const std::string& kind)
      : path_(path), in_(open_or_throw(path, "RecBole " + kind + " file")) {
    if (!std::getline(in_, line_))
      throw InputError(path + ": empty file; a RecBole " + kind + " file starts with a typed header");
    for (std::string_view h : split_tabs(line_)) {
      auto colon = h.find(':');
      if (colon == std::string_view::npos)
        throw InputError(located(path, 1, "header field '" + std::string(h) +
                                              "' has no type; RecBole headers look like 'user_id:token'"));
      std::string name(h.substr(0, colon));
      if (std::find(names_.begin(), names_.end(), name) != names_.end())
        throw InputError(located(path, 1, "header field '" + name + "' appears twice"));
      names_.push_back(std::move(name));
      types_.emplace_back(h.substr(colon + 1));
    }
  }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<std::string>& types() const { return types_; }
  int column(const std::string& name) const {
    auto it = std::find(names_.begin(), names_.end(), name);
    return it == names_.end() ? -1 : int(it - names_.begin());
  }
  // The next non-empty row's fields (views into an internal buffer, valid until the next call).
  bool next(std::vector<std::string_view>& fields) {
    while (std::getline(in_, line_)) {
      ++line_no_;
      if (line_.empty() || line_ == "\r") continue;
      fields = split_tabs(line_);
      if (fields.size() != names_.size())
        throw InputError(located(path_, line_no_, "expected " + std::to_string(names_.size()) +
                                                      " tab-separated fields, found " +
                                                      std::to_string(fields.size())));
      return true;
    }
    return false;
  }
  long line_no() const { return line_no_; }

 private:
  std::string path_;
  std::ifstream in_;
  std::string line_;
  std::vector<std::string> names_;
  std::vector<std::string> types_;
  long line_no_ = 1;
};

// Interns attribute tokens into ids 1..V and collects each item's distinct attribute ids.
class AttributeBuilder {
 public:
  explicit AttributeBuilder(int64_t num_items) { out_.tokens.push_back(""); out_.of_item.resize(size_t(num_items + 1)); }
  void add(int64_t item, const std::string& token) {
    auto [it, inserted] = ids_.emplace(token, int32_t(out_.tokens.size()));
    if (inserted) out_.tokens.push_back(token);
    auto& list = out_.of_item[size_t(item)];
    if (std::find(list.begin(), list.end(), it->second) == list.end()) list.push_back(it->second);
  }
  ItemAttributes finish() { return std::move(out_); }

 private:
  ItemAttributes out_;
  std::unordered_map<std::string, int32_t> ids_;
};

// Calls on_fields(fields, line_no) for each non-blank line of whitespace-separated fields.
template <typename OnFields>
void for_each_line_of_fields(const std::string& path, OnFields&& on_fields) {
  auto in = open_or_throw(path);
  std::string line;
  long line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    auto fields = split_ws(line);
    if (!fields.empty()) on_fields(fields, line_no);
  }
}

// Reads whitespace-separated lines, skipping blank ones; on_fields(group, fields, line_no) adds each line.
template <typename OnFields>
RawSequences read_whitespace_lines(const std::string& path, OnFields&& on_fields) {
  RawSequences raw;
  raw.source = path;
  UserGrouper group(raw);
  for_each_line_of_fields(path, [&](auto& fields, long line_no) { on_fields(group, fields, line_no); });
  require_nonempty(raw, path);
  return raw;
}

}  // namespace

// The S3-Rec and SASRec formats name users and items by non-negative integers; anything else is a malformed line.
// Returns the id as it is written without leading zeros, so that 4, 04 and 004 are one item, as the format says.
std::string_view require_integer(const std::string& path, long line_no, const char* what, std::string_view field,
                                 const char* format) {
  bool digits = !field.empty();
  for (char c : field) digits = digits && c >= '0' && c <= '9';
  if (!digits)
    throw InputError(located(path, line_no, std::string(what) + " '" + excerpt(field) +
                                                "' is not a non-negative integer id; the " + format +
                                                " format has integer ids (format = \"recbole\" reads named ids)"));
  while (field.size() > 1 && field.front() == '0') field.remove_prefix(1);
  return field;
}

RawSequences read_s3rec(const std::string& path) {
  return read_whitespace_lines(path, [&](UserGrouper& group, auto& fields, long line_no) {
    if (fields.size() < 2)
      throw InputError(located(path, line_no,
                               "expected 'user item item ...' (S3-Rec format), found only a user"));
    for (size_t i = 0; i < fields.size(); ++i)
      fields[i] = require_integer(path, line_no, i == 0 ? "user" : "item", fields[i], "S3-Rec");
    auto& seq = group.user(fields[0]);
    if (!seq.empty())
      throw InputError(located(path, line_no, "user '" + std::string(fields[0]) +
                                                  "' appears on two lines; the S3-Rec format has "
                                                  "one line per user (use format = \"sasrec\" for "
                                                  "'user item' pairs)"));
    for (size_t i = 1; i < fields.size(); ++i) seq.push_back(group.items.id(fields[i]));
  });
}

RawSequences read_user_item_pairs(const std::string& path) {
  RawSequences raw;
  raw.source = path;
  Interner items(raw.item_tokens), users(raw.user_tokens);
  Events events;
  size_t columns = 0;  // 2, or 3 with a time column: the first line decides, every other line must agree
  for_each_line_of_fields(path, [&](const auto& fields, long line_no) {
    if (fields.size() != 2 && fields.size() != 3)
      throw InputError(located(path, line_no, "expected 'user item' or 'user item timestamp' (SASRec format), found " +
                                                  std::to_string(fields.size()) + " fields"));
    if (columns == 0) columns = fields.size();
    if (fields.size() != columns)
      throw InputError(located(path, line_no, "found " + std::to_string(fields.size()) + " fields where the lines "
                                              "before have " + std::to_string(columns) +
                                              "; a time column is on every line or on none"));
    const std::string_view user = require_integer(path, line_no, "user", fields[0], "SASRec");
    const std::string_view item = require_integer(path, line_no, "item", fields[1], "SASRec");
    events.add(int32_t(users.index(user).first), items.id(item),
               columns == 3 ? parse_timestamp(fields[2], path, line_no) : 0.0);
  });
  sequences_from_events(raw, events, columns == 3);
  require_nonempty(raw, path);
  return raw;
}

RawSequences read_recbole_inter(const std::string& path) {
  AtomicFile file(path, ".inter");
  const int user_col = file.column("user_id"), item_col = file.column("item_id");
  const int time_col = file.column("timestamp");
  if (user_col < 0 || item_col < 0)
    throw InputError(located(path, 1, "the header needs user_id and item_id columns"));
  RawSequences raw;
  raw.source = path;
  Interner items(raw.item_tokens), users(raw.user_tokens);
  Events events;
  std::vector<std::string_view> fields;
  while (file.next(fields)) {
    const double t = time_col >= 0 ? parse_timestamp(fields[size_t(time_col)], path, file.line_no()) : 0.0;
    events.add(int32_t(users.index(fields[size_t(user_col)]).first), items.id(fields[size_t(item_col)]), t);
  }
  sequences_from_events(raw, events, time_col >= 0);
  require_nonempty(raw, path);
  return raw;
}

ItemTable read_recbole_items(const std::string& path) {
  AtomicFile file(path, ".item");
  const int id_col = file.column("item_id");
  if (id_col < 0) throw InputError(located(path, 1, "the header needs an item_id column"));
  ItemTable table;
  for (size_t i = 0; i < file.names().size(); ++i)
    if (file.names()[i] != "item_id") {
      table.fields.push_back(file.names()[i]);
      table.types[file.names()[i]] = file.types()[i];
    }
  std::vector<std::string_view> fields;
  while (file.next(fields)) {
    std::string id(fields[size_t(id_col)]);
    for (size_t i = 0; i < fields.size(); ++i)
      if (int(i) != id_col) table.values[file.names()[i]][id] = std::string(fields[i]);
  }
  return table;
}

void attach_item_fields(Dataset& data, const ItemTable& table) {
  // A file with rows, none of them an item of the data, is the wrong file (or ids in another form).
  if (!table.values.empty() && data.num_items() > 0) {
    const auto& rows = table.values.begin()->second;
    bool any = false;
    for (size_t id = 1; id < data.item_tokens.size() && !any; ++id) any = rows.count(data.item_tokens[id]) > 0;
    if (!any && !rows.empty())
      throw InputError("[data].item_file: none of its " + std::to_string(rows.size()) + " items is an item of the data "
                       "(its ids look like \"" + excerpt(rows.begin()->first, 20) + "\", the data's like \"" +
                       excerpt(data.item_tokens[1], 20) + "\"); is it this dataset's .item file?");
  }
  for (const auto& field : table.fields) {
    auto& column = data.item_fields[field];
    column.assign(data.item_tokens.size(), "");
    auto found = table.values.find(field);  // absent when the file has a header and no rows
    if (found != table.values.end())
      for (size_t id = 1; id < data.item_tokens.size(); ++id) {
        auto it = found->second.find(data.item_tokens[id]);
        if (it != found->second.end()) column[id] = it->second;
      }
    auto type = table.types.find(field);
    if (type == table.types.end() || (type->second != "token" && type->second != "token_seq")) continue;
    AttributeBuilder attrs(data.num_items());
    for (size_t id = 1; id < column.size(); ++id) {
      if (type->second == "token") {
        if (!column[id].empty()) attrs.add(int64_t(id), column[id]);
      } else {
        std::istringstream words(column[id]);
        for (std::string w; words >> w;) attrs.add(int64_t(id), w);
      }
    }
    data.attributes[field] = attrs.finish();
  }
  data.compute_checksum();
}

namespace {

// JSON nested deeper than any attribute file needs is refused while parsing: nothing recursive (a message quoting
// the value, a copy) ever meets a document nested 100,000 deep.
constexpr int kMaxJsonDepth = 64;

// Parses a whole attribute file strictly: one JSON value and nothing after it, no key twice in an object (a second
// value would silently replace the first), no nesting deeper than kMaxJsonDepth.
nlohmann::json parse_attribute_json(const std::string& path, const std::string& text) {
  const std::string expected = "expected a JSON object {\"item\": [attribute, ...], ...}";
  std::vector<std::unordered_set<std::string>> keys;  // of each object being parsed
  auto check = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (depth > kMaxJsonDepth)
      throw InputError(path + ": JSON nested more than " + std::to_string(kMaxJsonDepth) + " levels deep; " + expected);
    if (event == Event::object_start) keys.emplace_back();
    if (event == Event::object_end && !keys.empty()) keys.pop_back();
    if (event == Event::key && !keys.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(key).second)
        throw InputError(path + ": key \"" + excerpt(key) + "\" appears twice in one object; keep one");
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, check, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not valid JSON (" + excerpt(e.what(), 120) + "); " + expected);
  }
  if (!j.is_object()) throw InputError(path + ": " + expected);
  return j;
}

std::string read_whole(std::ifstream& in) {
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

void attach_item_attributes_json(Dataset& data, const std::string& path, const std::string& field) {
  std::ifstream in = open_or_throw(path, "attribute file");
  const nlohmann::json j = parse_attribute_json(path, read_whole(in));
  std::unordered_map<std::string, int64_t> item_id;
  for (size_t id = 1; id < data.item_tokens.size(); ++id) item_id[data.item_tokens[id]] = int64_t(id);
  // Attribute ids follow the items' order, so they do not depend on the file's key order.
  std::vector<const nlohmann::json*> of_item(data.item_tokens.size(), nullptr);
  size_t matched = 0;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_array())
      throw InputError(path + ": item \"" + excerpt(it.key()) + "\": expected a list of attributes");
    auto found = item_id.find(it.key());
    if (found != item_id.end()) of_item[size_t(found->second)] = &it.value(), ++matched;
  }
  if (matched == 0 && data.num_items() > 0)
    throw InputError(path + ": none of its " + std::to_string(j.size()) + " items is an item of the data (its keys look like \"" +
                     (j.empty() ? std::string() : excerpt(j.begin().key(), 20)) + "\", the data's like \"" +
                     excerpt(data.item_tokens[1], 20) + "\"); is it the attribute file of this dataset?");
  AttributeBuilder attrs(data.num_items());
  for (size_t id = 1; id < of_item.size(); ++id) {
    if (!of_item[id]) continue;
    for (const auto& a : *of_item[id]) {
      if (!a.is_number_integer() && !a.is_string())
        throw InputError(path + ": item \"" + excerpt(data.item_tokens[id]) + "\": attribute " +
                         excerpt(a.dump(), 40) + " is neither an integer nor a string");
      attrs.add(int64_t(id), a.is_string() ? a.get<std::string>() : std::to_string(a.get<int64_t>()));
    }
  }
  data.attributes[field] = attrs.finish();
  data.compute_checksum();
}

std::vector<std::vector<int32_t>> read_negatives(const std::string& path, const Dataset& data,
                                                 int64_t count) {
  std::unordered_map<std::string, int32_t> item_id, user_index;
  for (size_t i = 1; i < data.item_tokens.size(); ++i) item_id.emplace(data.item_tokens[i], int32_t(i));
  for (size_t u = 0; u < data.user_tokens.size(); ++u) user_index.emplace(data.user_tokens[u], int32_t(u));
  std::vector<std::vector<int32_t>> out(data.sequences.size());
  std::vector<char> seen(data.sequences.size(), 0);
  auto in = open_or_throw(path, "negatives file");
  std::string line;
  long line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    auto fields = split_ws(line);
    if (fields.empty()) continue;
    auto u = user_index.find(std::string(fields[0]));
    if (u == user_index.end()) continue;  // a user the preprocessing dropped
    if (int64_t(fields.size()) - 1 != count)
      throw InputError(located(path, line_no, "expected " + std::to_string(count) + " negatives after the user, found " +
                                                  std::to_string(fields.size() - 1) +
                                                  " (set [protocol].negatives to match the file)"));
    for (size_t i = 1; i < fields.size(); ++i) {
      auto it = item_id.find(std::string(fields[i]));
      if (it == item_id.end())
        throw InputError(located(path, line_no, "negative item '" + std::string(fields[i]) +
                                                    "' is not an item of the dataset"));
      out[size_t(u->second)].push_back(it->second);
    }
    seen[size_t(u->second)] = 1;
  }
  for (size_t u = 0; u < seen.size(); ++u)
    if (!seen[u])
      throw InputError(path + ": no negatives for user '" + data.user_tokens[u] +
                       "': the file must list every user of the dataset");
  return out;
}

std::vector<std::vector<int32_t>> draw_negatives(const Dataset& data, int64_t count, uint64_t seed) {
  const int64_t n = data.num_items();
  std::vector<std::vector<int32_t>> out(data.sequences.size());
  std::vector<char> touched(size_t(n + 1), 0);
  for (size_t u = 0; u < data.sequences.size(); ++u) {
    const auto& seq = data.sequences[u];
    for (int32_t i : seq) touched[size_t(i)] = 1;
    int64_t available = n;
    for (size_t i = 1; i <= size_t(n); ++i) available -= touched[i];
    if (available < count)
      throw InputError("[protocol].negatives = " + std::to_string(count) + ": user '" + data.user_tokens[u] +
                       "' has only " + std::to_string(available) + " items it never interacted with");
    // One generator per user, so a user's negatives do not depend on the other users.
    SplitMix64 rng(seed * 0x9E3779B97F4A7C15ull + u);
    std::vector<char> taken(size_t(n + 1), 0);
    while (int64_t(out[u].size()) < count) {
      int32_t item = int32_t(1 + rng.below(n));
      if (touched[size_t(item)] || taken[size_t(item)]) continue;
      taken[size_t(item)] = 1;
      out[u].push_back(item);
    }
    for (int32_t i : seq) touched[size_t(i)] = 0;
  }
  return out;
}

}  // namespace mmsr
