// A backbone that fails on purpose, for the reliability tests: at its Nth forward call it raises SIGSEGV, aborts,
// hangs, or throws a LibTorch error. Otherwise it passes the item vectors through. Built into tests/crash_plugins, never installed.
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include "mmsr/sdk/plugin.h"

namespace {

using namespace mmsr;

class CrashingEncoder : public SequenceEncoder {
 public:
  CrashingEncoder(int64_t dim, std::string how, int64_t at_call) : dim_(dim), how_(std::move(how)), at_call_(at_call) {
    // One trainable parameter so the run has something to train.
    scale_ = register_parameter("scale", torch::ones({1}));
  }
  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch&) override {
    if (++calls_ == at_call_) {
      if (how_ == "segfault") std::raise(SIGSEGV);
      if (how_ == "abort") std::abort();
      if (how_ == "hang")
        for (;;) sleep(1);
      // A LibTorch error: its message carries a backtrace of a dozen frames after the first line.
      TORCH_CHECK(how_ != "torch_error", "the crash_test backbone's tensor check failed on purpose");
    }
    return vectors * scale_ * valid.unsqueeze(-1).to(vectors.dtype());
  }
  int64_t output_dim() const override { return dim_; }

 private:
  int64_t dim_;
  std::string how_;
  int64_t at_call_;
  int64_t calls_ = 0;
  torch::Tensor scale_;
};

}  // namespace

MMSR_PLUGIN(crash_test, "0.0.1") {
  registrar.add_backbone(
      "crash_test", "fails on purpose (tests only)",
      ParamDecl()
          .choice("how", "segfault", {"segfault", "abort", "hang", "torch_error"}, "how to fail")
          .integer("at_call", 3, 1, 1000000, "the forward call that fails"),
      [](const ParamSet& p, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
        return std::make_shared<CrashingEncoder>(ctx.input_dim, p.get_string("how"), p.get_int("at_call"));
      });
}
