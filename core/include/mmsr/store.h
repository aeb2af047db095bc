// The results store: one SQLite file (WAL) holding experiments, runs, per-epoch records, final metrics,
// per-user ranks and timings. The schema is documented in results/SCHEMA.md. A run's final metrics, ranks and
// its 'finished' status are written in one transaction: a run is either complete or visibly not.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace mmsr {

// 2: popularity_metrics; 3: runs.claimed_by, runs.heartbeat; 4: run identities without the SDK version (re-keyed);
// 5: runs.inputs (the files a run read, with their content hashes and feature provenance); 6: runs.split (what the
// protocol's split made of the data: cuts, event counts)
constexpr int kStoreSchemaVersion = 6;

struct RunRecord {
  std::string run_key;     // identity: hash of everything that decides the result
  int64_t experiment_id = 0;
  std::string model_name;
  std::string grid_label;
  std::string config_key;  // groups the seeds of one configuration
  std::string config_json;
  std::string protocol_hash;
  std::string protocol_json;
  std::string dataset_checksum;
  uint64_t seed = 0;
  std::string plugins_json;  // {"sasrec": "1.0.0", ...}
  std::string fingerprint;
  std::string device;
  // The files the run read: interactions and features, each with its content hash and, for a feature file, the
  // provenance its extractor wrote beside it (JSON array; mmsr/load.h input_files_json). Not part of the identity.
  std::string inputs_json;
  // What the protocol's split made of the data (JSON object; mmsr/split.h Split::summary_json). Not part of the
  // identity: the protocol and the dataset decide it.
  std::string split_json;
};

struct MetricRecord {
  std::string split;   // "valid" or "test"
  std::string branch;  // branch name or "fused"
  std::string name;
  int64_t k = 0;
  double value = 0;
};

// A metric over the users whose test target falls in one item-popularity group (ODMT's Figure 4).
struct GroupMetricRecord {
  std::string split, branch;
  int64_t group = 0;  // 0 = target never seen in training; 1..G = quantile groups, least popular first
  std::string name;
  int64_t k = 0;
  double value = 0;
  int64_t users = 0;
};

struct RankRecord {
  std::string split, branch;
  int64_t user = 0;  // the evaluation event (mmsr/split.h): under leave-one-out, the user's index
  double rank = 0;
  int64_t ties = 0;
};

struct TimingRecord {
  std::string phase;
  double seconds = 0;
  double peak_rss_mb = 0;
};

// Everything that completes one run.
struct RunResult {
  int64_t run_id = 0;
  int64_t best_epoch = 0;
  std::vector<MetricRecord> metrics;
  std::vector<RankRecord> ranks;
  std::vector<TimingRecord> timings;
  std::vector<GroupMetricRecord> group_metrics;
};

struct FinishedRun {
  int64_t id = 0;
  std::string run_key, experiment, model_name, grid_label, config_key, config_json;
  std::string protocol_hash, protocol_json, dataset_checksum, dataset_name;
  std::string dataset_source, dataset_stats_json;
  std::string inputs_json;  // "" in a store written before schema 5
  std::string split_json;   // "" in a store written before schema 6
  uint64_t seed = 0;
  int64_t best_epoch = 0;
  double train_seconds = 0;
};

struct EpochRecord {
  int64_t epoch = 0;
  double loss = 0;
  std::string terms_json, valid_json;
  double seconds = 0;
};

// A path as an SQLite URI that opens it read-only, for connections and ATTACH. A store on a read-only file system
// (a snapshot, a read-only mount of results) cannot get the shared-memory file a WAL reader needs; nothing can be
// writing it there, so it is then opened as immutable.
std::string sqlite_read_only_uri(const std::string& path);

// Where a run's end-of-epoch checkpoint lives: <store>.checkpoints/<run key>.pt.
std::string checkpoint_file(const std::string& store_path, const std::string& run_key);
// Every file a checkpoint at `path` may leave (itself, the previous one, a partial write, damaged ones set aside):
// what a run that ends with a result removes.
std::vector<std::string> checkpoint_files(const std::string& path);

// Whether the store at `path` was made before the speed options became [train]'s defaults (it holds runs and no
// record of the defaults it was made with): its grids then resolve with the original defaults (TrainDefaults in
// mmsr/config.h), so its runs keep their identities. False for a path that does not exist yet, or is no store (the
// store's own checks report that when it is opened).
bool store_keeps_original_train_defaults(const std::string& path);

// ReadOnly: what reports, merge sources and inspection use. The file must exist and is never written: no schema is
// created in an empty file, no -wal is checkpointed, an older schema is upgraded in a copy in memory.
enum class StoreAccess { ReadWrite, ReadOnly };

class Store {
 public:
  // Opens (or, read-write, creates) the store. InputError when the path is not a regular file, the file is not an
  // mmsr store, has a newer schema, or (read-write) sits on a read-only file system.
  explicit Store(const std::string& path, StoreAccess access = StoreAccess::ReadWrite);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }

  // SQLite's quick_check: InputError naming the damage and the command that salvages the store (what `mmsr run`
  // does before it writes into a store).
  void check_integrity();
  // Copies the write-ahead log into the store file (after each finished run).
  void checkpoint_log();

  int64_t add_experiment(const std::string& name, const std::string& file,
                         const std::string& description, const std::string& config_text);
  void put_dataset(const std::string& checksum, const std::string& name, const std::string& source,
                   const std::string& stats_json);

  // "finished", "running", "failed", ... or nothing when the run was never started.
  std::optional<std::string> run_status(const std::string& run_key);
  // Starts a run: an unfinished earlier attempt with the same key is removed first.
  int64_t begin_run(const RunRecord& run);

  // Claims one run (its main record and its [[also_evaluate]] records) for this process, atomically across
  // processes: fails, naming the holder, when another runner that is still alive holds one of them (a process of
  // this machine that still exists, or a runner elsewhere whose heartbeat is younger than stale_seconds). Otherwise
  // every unfinished record is (re)started as 'running', claimed by this process (an earlier unfinished attempt keeps
  // its id and epochs); finished ones get id 0.
  struct Claim {
    bool claimed = false;
    bool already_finished = false;  // every record finished (another runner may have just ended it): not claimed
    std::vector<int64_t> ids;
    std::string holder;  // when another live runner holds it
  };
  Claim claim_run(const std::vector<RunRecord>& records, double stale_seconds);
  // "host:pid" of this process: what claims record.
  static std::string claimant_id();
  // The live runner holding a run, or "" (not running, or its runner is gone).
  std::string live_holder(const std::string& run_key, double stale_seconds);
  // Drops a run's epoch records after this epoch (0: all): what a restart or a resume will redo.
  void truncate_epochs(int64_t run_id, int64_t after_epoch);
  // Records that the claimant of these runs is still at work.
  void heartbeat(const std::vector<int64_t>& ids);
  // Marks a run's still-running records (a crashed or killed child's) with a status and error; how many changed.
  int64_t fail_unfinished(const std::string& run_key, const std::string& status, const std::string& error);
  void add_epoch(int64_t run_id, int64_t epoch, double loss, const std::string& terms_json,
                 const std::string& valid_json, double seconds);
  void finish_run(int64_t run_id, int64_t best_epoch, const std::vector<MetricRecord>& metrics,
                  const std::vector<RankRecord>& ranks, const std::vector<TimingRecord>& timings);
  // Several runs completed together (a trained run and its [[also_evaluate]] records): all or none.
  void finish_runs(const std::vector<RunResult>& results);
  void fail_run(int64_t run_id, const std::string& status, const std::string& error);

  std::vector<FinishedRun> finished_runs();
  std::vector<MetricRecord> run_metrics(int64_t run_id);
  std::vector<GroupMetricRecord> run_group_metrics(int64_t run_id);
  std::vector<EpochRecord> run_epochs(int64_t run_id);
  // One split and branch of a run's per-user ranks, in user order.
  std::vector<RankRecord> run_ranks(int64_t run_id, const std::string& split, const std::string& branch);
  std::vector<TimingRecord> run_timings(int64_t run_id);

  // See store_keeps_original_train_defaults.
  bool keeps_original_train_defaults();

  sqlite3* handle() { return db_; }

 private:
  void exec(const std::string& sql);
  void migrate();
  bool runs_has_column(const std::string& name);
  void open_read_only();
  int stored_schema_version(bool empty_is_new);
  std::string another_store_hint() const;
  // Schema 4's re-keying (mmsr/identity.h); returns the (old, new) keys of unfinished runs, whose checkpoints move.
  std::vector<std::pair<std::string, std::string>> rekey_runs();
  std::string path_;
  StoreAccess access_ = StoreAccess::ReadWrite;
  sqlite3* db_ = nullptr;
};

}  // namespace mmsr
