// SASRec (Kang & McAuley 2018): learned positions + causal self-attention blocks (METHODS.md section 3).
// The norm position, activation, inner size, dropout, epsilon and depth are options, so the ODMT code
// (post-LN, ReLU, eps 1e-6), the original / pmixer port (pre-LN) and RecBole / S3-Rec (post-LN, GELU)
// are all expressible. The computation itself is the SDK's SequenceTransformer, shared with FDSA.
#include "mmsr/sdk/plugin.h"
#include "mmsr/sdk/transformer.h"

namespace {

using namespace mmsr;

class Sasrec : public SequenceEncoder {
 public:
  explicit Sasrec(const TransformerOptions& o) {
    transformer_ = register_module("transformer", std::make_shared<SequenceTransformer>(o));
    init_normal_weights(*this, o.init_std);
  }
  torch::Tensor forward(const torch::Tensor& vectors, const torch::Tensor& valid, const Batch&) override {
    return transformer_->forward(vectors, valid);
  }
  int64_t output_dim() const override { return transformer_->options().dim; }

 private:
  std::shared_ptr<SequenceTransformer> transformer_;
};

struct SasrecOptions {
  TransformerOptions transformer;
};

ParamBinding<SasrecOptions> sasrec_params() {
  ParamBinding<SasrecOptions> p;
  p.include(&SasrecOptions::transformer, transformer_params());
  return p;
}

}  // namespace

MMSR_PLUGIN(sasrec, "1.1.0") {
  registrar.add_backbone(
      "sasrec", "SASRec: causal self-attention over item vectors with learned positions", sasrec_params(),
      [](const SasrecOptions& o, const BuildContext& ctx) -> std::shared_ptr<SequenceEncoder> {
        return std::make_shared<Sasrec>(transformer_options(o.transformer, ctx.input_dim, ctx.max_len, ctx.fast_dropout, "sasrec"));
      });
}
