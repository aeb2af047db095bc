// Declarations of the experiment file's core sections. Docs, parsing and validation come from these.
#include "mmsr/config.h"
#include "mmsr/load.h"

namespace mmsr {

const ParamDecl& experiment_section() {
  static const ParamDecl d = ParamDecl()
      .text("name", "experiment", "name shown in reports and stored with every run")
      .text("description", "", "free text stored with the experiment")
      .integer_list("seeds", {1}, 0, 2147483647.0, "every grid point runs once per seed")
      .integer("popularity_groups", 5, 0, 100,
               "test metrics are also reported by the target item's training popularity: group 0 = items never "
               "seen in training, groups 1..N = equal-sized item quantiles, least popular first (0 = off)");
  return d;
}

const ParamDecl& data_section() {
  static const ParamDecl d = ParamDecl()
      .choice("format", "synthetic", data_format_names(),
              "synthetic (built in), s3rec ('user i1 i2 ...' lines), sasrec ('user item' lines), "
              "recbole (.inter atomic file), unisrec (pre-split <prefix>.{train,valid,test}.inter)")
      .text("path", "", "data file (or UniSRec prefix), relative to the experiment file")
      .text("name", "", "dataset name in reports (default: the file name)")
      .text("item_file", "", "RecBole .item file with item side information (relative to the experiment file)")
      .text("attribute_file", "",
            "S3-Rec item attributes, {\"item\": [attribute, ...]} JSON (e.g. Beauty_item2attributes.json), "
            "relative to the experiment file; becomes the attribute field 'attributes'")
      .boolean("drop_consecutive_repeats", false, "collapse an item repeated in a row into one")
      .integer("k_core", 0, 0, 1000, "iterative k-core on users and items (0 = off)")
      .integer("min_length", 3, 3, 100000, "drop users with fewer interactions (leave-one-out needs 3)")
      .integer("keep_last", 0, 0, 100000000, "keep each user's last N interactions (0 = all)");
  return d;
}

const ParamDecl& modality_section() {
  static const ParamDecl d = ParamDecl()
      .text("name", "", "modality name the models refer to (e.g. text, image)")
      .text("path", "", "feature file, relative to the experiment file")
      .choice("format", "npy", {"npy", "raw"},
              "npy: float32/float16, [items, dim] or [items, tokens, dim]; raw: little-endian float32 rows")
      .choice("shape", "pooled", {"pooled", "tokens"}, "raw files: one vector per item, or tokens x dim per item")
      .integer("dim", 0, 0, 1 << 20, "raw files: vector dimension")
      .integer("tokens", 0, 0, 1 << 20, "raw token-level files: tokens per item")
      .text("mask", "", "token-level: .npy [items, tokens] of 0/1 marking real tokens (default: all real)")
      .text("id_map", "token",
            "\"token\": the item token is its row number; otherwise a file of 'item<TAB>row' lines "
            "(e.g. UniSRec's *.item2index)")
      .choice("missing", "error", {"error", "zero"},
              "an item without a row: error, or zero features with every token masked");
  return d;
}

const ParamDecl& synthetic_section() {
  static const ParamDecl d = ParamDecl()
      .integer("seed", 7, 0, 2147483647.0, "generator seed (the data, not the run)")
      .integer("users", 2000, 1, 10000000, "number of users")
      .integer("items", 1000, 2, 10000000, "number of items")
      .integer("clusters", 20, 1, 100000, "latent item clusters driving behaviour and features")
      .real("zipf", 1.0, 0.0, 5.0, "popularity exponent within a cluster")
      .integer("min_length", 5, 3, 100000, "shortest user sequence")
      .integer("max_length", 30, 3, 100000, "longest user sequence")
      .real("stickiness", 0.8, 0.0, 1.0, "probability of staying in the current cluster")
      .real("successor", 0.5, 0.0, 1.0, "probability the next item follows the previous one")
      .real("cold_fraction", 0.05, 0.0, 0.9, "share of items absent from training")
      .real("cold_target_rate", 0.05, 0.0, 1.0, "probability a test target is a cold item")
      .integer("feature_dim", 32, 1, 4096, "dimension of the pooled text and image features")
      .real("feature_noise", 0.5, 0.0, 100.0, "item-specific noise around the cluster centre")
      .integer("text_tokens", 8, 0, 512,
               "token-level 'text_tokens' per item (0 = none): a noise [CLS], then real tokens of varying count, "
               "some carrying the cluster")
      .integer("image_tokens", 5, 0, 512, "token-level 'image_tokens' per item (0 = none): a noise class token, "
                                            "then patches, some carrying the cluster");
  return d;
}

const ParamDecl& protocol_section() {
  static const ParamDecl d = ParamDecl()
      .choice("split", "leave_one_out", {"leave_one_out"},
              "last item = test, second-to-last = validation, rest = training")
      .choice("train_samples", "all_position", {"all_position", "prefix"},
              "all_position: one sample per user, every position predicts the next item; "
              "prefix: every prefix is a sample predicting its next item")
      .integer("max_len", 50, 1, 4096, "maximum input length L (the most recent items are kept)")
      .choice("candidates", "full", {"full", "sampled"},
              "full: rank the target against every item; sampled: against [protocol].negatives items")
      .integer("negatives", 99, 1, 100000, "sampled: negatives per user")
      .text("negatives_file", "",
            "sampled: 'user neg1 ... negN' lines (relative to the experiment file); empty = draw them")
      .integer("negatives_seed", 0, 0, 2147483647.0,
               "sampled without a file: seed of the draw (uniform over items the user never touched)")
      .boolean("mask_history", true,
               "remove the user's history items from the candidates (except the target)")
      .choice("ties", "expected", {"expected", "optimistic", "pessimistic"},
              "tie term of the count-based rank: #ties/2, 0 or #ties")
      .choice_list("metrics", {"hr", "ndcg", "mrr"}, {"hr", "recall", "ndcg", "mrr"},
                   "metrics to compute")
      .integer_list("ks", {5, 10, 20}, 1, 100000, "cut-offs K")
      .text("select", "ndcg@10", "validation metric for early stopping and the best epoch");
  return d;
}

const ParamDecl& train_section() {
  static const ParamDecl d = ParamDecl()
      .choice("optimizer", "adam", {"adam", "adamw"}, "optimizer")
      .real("lr", 1e-3, 1e-8, 10.0, "learning rate")
      .real("weight_decay", 0.0, 0.0, 10.0, "weight decay (L2 for adam, decoupled for adamw)")
      .real("clip_norm", 0.0, 0.0, 1e6, "gradient clipping by global norm (0 = off)")
      .integer("epochs", 50, 1, 100000, "maximum number of epochs")
      .integer("patience", 10, 0, 100000,
               "stop after this many evaluations without improvement (0 = never stop early)")
      .integer("eval_every", 1, 1, 100000, "evaluate on validation every N epochs")
      .integer("batch_size", 256, 1, 1000000, "training batch size (sequences)")
      .boolean("length_buckets", false,
               "group samples of similar length into batches (faster on short sequences; changes which "
               "samples share a batch)")
      .integer("eval_batch_size", 0, 0, 1000000,
               "users per evaluation batch (metrics do not depend on it); 0 = as many as keep one batch's scores "
               "within 8 MB, which stays in the CPU cache (measured 2.4x faster per user than 1024 on Beauty)")
      .integer("threads", 0, 0, 1024, "CPU threads for LibTorch, per process (0 = all cores, shared by the processes)")
      .integer("processes", 1, 1, 256,
               "data-parallel training over this many processes of the machine (c10d over Gloo), one per CUDA "
               "device on a GPU machine: each trains on its share of every batch and gradients are summed; "
               "losses that draw negatives from the batch see only the process's share")
      .text("device", "auto", "auto (a GPU when there is one), cpu, cuda or cuda:N")
      .choice("precision", "fp32", {"fp32", "bf16"},
              "bf16: forward passes under bfloat16 autocast on a CUDA device (no loss scaling needed); on the CPU "
              "runs stay fp32 (the run records the device it used)")
      .boolean("fast_dropout", false,
               "CPU dropout masks from a counter-based generator seeded by torch's (same distribution, p rounded to "
               "1/65536; several times faster than torch's serial Bernoulli on non-Intel CPUs); changes the "
               "random stream, so it is part of a run's identity")
      // KDSR's trainable modality embeddings and its asynchronous learning step (METHODS.md section 6).
      .string_list("adapt", {},
                   "modalities whose per-item vector (pooled, or the first token) becomes a trainable embedding "
                   "initialised from the features; the tower reads it instead of the frozen vector, and "
                   "correlation losses supervise it")
      .real("adapt_lr_scale", 1.0, 0.0, 1e3,
            "learning rate of the adapted embeddings relative to lr (KDSR's asynchronous step: 1/gamma^2 = 0.25)")
      .integer_list("adapt_milestones", {}, 1, 100000,
                    "epochs at which the adapted embeddings' learning rate is multiplied by adapt_gamma")
      .real("adapt_gamma", 2.0, 1e-3, 1e3, "the factor applied at each of adapt_milestones");
  return d;
}

}  // namespace mmsr
