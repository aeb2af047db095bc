// The SDK's modality encoder (mmsr/sdk/modality_encoder.h): what the fusion towers and IMT's separate-encoder
// ablation compute for one modality's tokens.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mmsr/sdk/modality_encoder.h"

namespace mmsr {
namespace {

ModalityEncoderOptions options(int64_t layers, bool mean_tokens = false) {
  ModalityEncoderOptions o;
  o.in_dim = 6;
  o.mean_tokens = mean_tokens;
  o.transformer.dim = 8;
  o.transformer.layers = layers;
  o.transformer.heads = 2;
  o.transformer.inner = 16;
  return o;
}

// Four items of five tokens, the first two real for item 0, all real for item 1, one for items 2 and 3.
std::pair<torch::Tensor, torch::Tensor> tokens() {
  torch::manual_seed(3);
  auto values = torch::randn({4, 5, 6});
  auto mask = torch::zeros({4, 5}, torch::kBool);
  mask[0].slice(0, 0, 2).fill_(true);
  mask[1].fill_(true);
  mask[2][0] = true;
  mask[3][0] = true;
  return {values, mask};
}

TEST(ModalityEncoder, NoLayersIsTheProjectionOfTheFirstTokenOrTheMean) {
  auto [values, mask] = tokens();
  for (bool mean : {false, true}) {
    torch::manual_seed(1);
    ModalityEncoder e(options(0, mean));
    e.eval();
    auto params = e.named_parameters();
    auto W = params["linear.weight"], b = params["linear.bias"];
    auto m = mask.unsqueeze(-1).to(torch::kFloat);
    auto read = mean ? (values * m).sum(1) / m.sum(1) : values.select(1, 0);
    EXPECT_TRUE(torch::allclose(e.forward(values, mask), torch::matmul(read, W.t()) + b, 1e-5, 1e-6)) << mean;
    EXPECT_EQ(e.layers(), 0);
  }
}

TEST(ModalityEncoder, PaddingTokensChangeNothing) {
  auto [values, mask] = tokens();
  for (bool mean : {false, true}) {
    for (int64_t layers : {0, 1, 2}) {
      torch::manual_seed(1);
      ModalityEncoder e(options(layers, mean));
      e.eval();
      auto before = e.forward(values, mask);
      auto changed = values.clone();
      changed.masked_fill_(mask.logical_not().unsqueeze(-1), 1e3);  // padded tokens: anything
      EXPECT_TRUE(torch::equal(e.forward(changed, mask), before)) << "layers " << layers << " mean " << mean;
    }
  }
}

TEST(ModalityEncoder, LayersAreTheSdkBlocksOverTheItemsTokensWithoutPositions) {
  auto [values, mask] = tokens();
  torch::manual_seed(1);
  auto o = options(2);
  ModalityEncoder e(o);
  e.eval();
  // By hand: project, then the blocks under the padding mask, read at the first token.
  auto params = e.named_parameters();
  auto x = torch::matmul(values, params["linear.weight"].t()) + params["linear.bias"];
  for (const auto& child : e.named_children()) {
    auto block = std::dynamic_pointer_cast<TransformerBlock>(child.value());
    if (block) x = block->forward(x, token_padding_mask(mask));
  }
  EXPECT_TRUE(torch::allclose(e.forward(values, mask), x.select(1, 0), 1e-5, 1e-6));
  // Tokens are a set: permuting the real tokens after the first changes nothing.
  auto permuted = values.clone();
  permuted[1].slice(0, 1, 5).copy_(values[1].slice(0, 1, 5).flip(0));
  EXPECT_TRUE(torch::allclose(e.forward(permuted, mask), e.forward(values, mask), 1e-5, 1e-6));
  // And the encoder mixes the tokens: item 1's first output depends on its later tokens.
  auto other = values.clone();
  other[1][3] += 1.0;
  EXPECT_FALSE(torch::allclose(e.forward(other, mask)[1], e.forward(values, mask)[1]));
}

TEST(ModalityEncoder, APooledModalityIsOneToken) {
  torch::manual_seed(2);
  auto pooled = torch::randn({3, 6});
  torch::manual_seed(1);
  ModalityEncoder e(options(2));
  e.eval();
  auto as_one_token = e.forward(pooled.unsqueeze(1), torch::ones({3, 1}, torch::kBool));
  EXPECT_TRUE(torch::equal(e.forward(pooled, torch::ones({3}, torch::kBool)), as_one_token));
  EXPECT_EQ(as_one_token.sizes(), (std::vector<int64_t>{3, 8}));
}

}  // namespace
}  // namespace mmsr
