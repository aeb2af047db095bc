#include "checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "mmsr/errors.h"
#include "mmsr/sealed.h"

namespace mmsr {
namespace {

// A checkpoint's contents, read completely before any of it is applied.
struct LoadedCheckpoint {
  TrainingState st;
  std::vector<torch::Tensor> model, best;
  torch::serialize::InputArchive optimizer;
  torch::Tensor rng_cpu;
};

// The archive written to `path` as LibTorch serialises it, sealed (mmsr/sealed.h): never a second copy in memory,
// which for a large catalogue's table and its optimizer state would be gigabytes.
void write_sealed(const std::string& path, torch::serialize::OutputArchive& archive) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SealedWriter writer(out);
  uint64_t written = 0;
  bool ok = bool(out);
  archive.save_to([&](const void* data, size_t size) -> size_t {
    ok = ok && writer.write(data, size);
    written += size;
    return size;  // a failed stream is reported below, not inside LibTorch's writer
  });
  ok = ok && writer.finish();
  if (!ok) {
    out.close();
    std::error_code ec;
    std::filesystem::remove(path, ec);
    throw InputError(path + ": cannot write the run's checkpoint (" + std::to_string(written) +
                     " bytes; is the disk full?); free some space and rerun, or run with --no-checkpoints");
  }
}

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The checkpoint in sealed bytes, with the model's tensor count and shapes checked; nothing when it is not one.
std::optional<LoadedCheckpoint> parse(std::string_view payload, const std::vector<torch::Tensor>& expected,
                                      torch::Device device) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(payload.data(), payload.size());
    auto read = [&](const std::string& key) {
      torch::Tensor t;
      archive.read(key, t);
      return t;
    };
    LoadedCheckpoint c;
    c.st.epoch = read("epoch").item<int64_t>();
    c.st.best_epoch = read("best_epoch").item<int64_t>();
    c.st.bad_evals = read("bad_evals").item<int64_t>();
    c.st.step = read("step").item<int64_t>();
    c.st.best = read("best").item<double>();
    c.st.train_seconds = read("train_seconds").item<double>();
    c.st.valid_seconds = read("valid_seconds").item<double>();
    c.st.stopped = read("stopped").item<int64_t>() != 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      c.model.push_back(read("model/" + std::to_string(i)).to(device));
      if (!c.model.back().sizes().equals(expected[i].sizes())) return std::nullopt;
    }
    const int64_t best_count = read("best_count").item<int64_t>();
    if (best_count != 0 && best_count != int64_t(expected.size())) return std::nullopt;
    for (int64_t i = 0; i < best_count; ++i) c.best.push_back(read("best/" + std::to_string(i)).to(device));
    archive.read("optimizer", c.optimizer);
    c.rng_cpu = read("rng_cpu");
    return c;
  } catch (const std::exception&) {
    return std::nullopt;  // sealed bytes that are not a checkpoint of this model
  }
}

void set_aside(const std::string& file) {
  std::error_code ec;
  std::filesystem::rename(file, file + ".damaged", ec);
}

}  // namespace

std::vector<torch::Tensor> snapshot(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (auto& p : m.parameters()) out.push_back(p.detach().clone());
  for (auto& b : m.buffers()) out.push_back(b.detach().clone());
  return out;
}

void restore(torch::nn::Module& m, const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : m.parameters()) p.copy_(saved[i++]);
  for (auto& b : m.buffers()) b.copy_(saved[i++]);
}

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const TrainingState& st, const std::vector<torch::Tensor>& best_state) {
  torch::serialize::OutputArchive archive;
  archive.write("epoch", torch::tensor(st.epoch));
  archive.write("best_epoch", torch::tensor(st.best_epoch));
  archive.write("bad_evals", torch::tensor(st.bad_evals));
  archive.write("step", torch::tensor(st.step));
  archive.write("best", torch::tensor(st.best, torch::kDouble));
  archive.write("train_seconds", torch::tensor(st.train_seconds, torch::kDouble));
  archive.write("valid_seconds", torch::tensor(st.valid_seconds, torch::kDouble));
  archive.write("stopped", torch::tensor(int64_t(st.stopped)));
  auto now = snapshot(model);
  for (size_t i = 0; i < now.size(); ++i) archive.write("model/" + std::to_string(i), now[i].cpu());
  archive.write("best_count", torch::tensor(int64_t(best_state.size())));
  for (size_t i = 0; i < best_state.size(); ++i) archive.write("best/" + std::to_string(i), best_state[i].cpu());
  torch::serialize::OutputArchive opt;
  optimizer.save(opt);
  archive.write("optimizer", opt);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("rng_cpu", gen.get_state());
  }
  // Written to a temporary file and sealed, then renamed: a kill or a full disk during the write leaves the
  // previous checkpoint, and a failed write is a clear error rather than an exception inside LibTorch's writer.
  // The checkpoint it replaces stays as .prev: the one to resume from if this one is damaged.
  const std::string tmp = path + ".tmp";
  write_sealed(tmp, archive);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) std::filesystem::rename(path, path + ".prev");
  std::filesystem::rename(tmp, path);
}

bool load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     TrainingState& st, std::vector<torch::Tensor>& best_state, torch::Device device, bool aside,
                     const std::function<void(const std::string&)>& warn) {
  if (path.empty()) return false;
  const std::vector<torch::Tensor> expected = snapshot(model);
  for (const std::string& file : {path, path + ".prev"}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) continue;
    std::optional<std::string> bytes = read_whole(file);
    std::optional<std::string_view> payload = bytes ? unseal(*bytes) : std::nullopt;
    std::optional<LoadedCheckpoint> c = payload ? parse(*payload, expected, device) : std::nullopt;
    if (!c) {
      if (aside) set_aside(file);
      if (warn)
        warn("checkpoint " + file + " is damaged (it fails its checksum); not resumed from" +
             (aside ? ", set aside as " + std::filesystem::path(file).filename().string() + ".damaged" : ""));
      continue;
    }
    st = c->st;
    restore(model, c->model);
    best_state = std::move(c->best);
    optimizer.load(c->optimizer);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(c->rng_cpu);
    return true;
  }
  return false;
}

}  // namespace mmsr
