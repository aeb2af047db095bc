// The experiment file's core sections, bound to their options structs (mmsr/config.h). Parsing, validation,
// `mmsr plugins show-config`, the docs' tables and the run record all come from these bindings.
#include "mmsr/config.h"
#include "mmsr/load.h"

namespace mmsr {

const ParamBinding<ExperimentOptions>& experiment_params() {
  static const ParamBinding<ExperimentOptions> p = [] {
    using O = ExperimentOptions;
    ParamBinding<O> b;
    b.field("name", &O::name, "name shown in reports and stored with every run");
    b.field("description", &O::description, "free text stored with the experiment");
    b.field("seeds", &O::seeds, "every grid point runs once per seed").range(0, 2147483647.0);
    b.field("popularity_groups", &O::popularity_groups,
            "test metrics are also reported by the target item's training popularity: group 0 = items never "
            "seen in training, groups 1..N = equal-sized item quantiles, least popular first (0 = off)")
        .range(0, 100);
    return b;
  }();
  return p;
}

const ParamBinding<DataOptions>& data_params() {
  static const ParamBinding<DataOptions> p = [] {
    using O = DataOptions;
    ParamBinding<O> b;
    b.field("format", &O::format,
            "synthetic (built in), s3rec ('user i1 i2 ...' lines), sasrec ('user item' lines), "
            "recbole (.inter atomic file), unisrec (pre-split <prefix>.{train,valid,test}.inter), mmrec (MMRec's "
            "<name>.inter), amazon2023 (Amazon Reviews 2023 leave-last-out <prefix>.{train,valid,test}.csv)")
        .one_of(data_format_names());
    b.field("path", &O::path, "data file (or the UniSRec or Amazon 2023 prefix), relative to the experiment file");
    b.field("name", &O::name, "dataset name in reports (default: the file name)");
    b.field("item_file", &O::item_file,
            "RecBole .item file with item side information (relative to the experiment file)");
    b.field("attribute_file", &O::attribute_file,
            "S3-Rec item attributes, {\"item\": [attribute, ...]} JSON (e.g. Beauty_item2attributes.json), "
            "relative to the experiment file; becomes the attribute field 'attributes'");
    b.field("drop_consecutive_repeats", &O::drop_consecutive_repeats, "collapse an item repeated in a row into one");
    b.field("k_core", &O::k_core, "iterative k-core on users and items (0 = off)").range(0, 1000);
    b.field("min_length", &O::min_length, "drop users with fewer interactions (leave-one-out needs 3)")
        .range(3, 100000);
    b.field("keep_last", &O::keep_last, "keep each user's last N interactions (0 = all)").range(0, 100000000);
    return b;
  }();
  return p;
}

const ParamBinding<ModalitySpec>& modality_params() {
  static const ParamBinding<ModalitySpec> p = [] {
    using O = ModalitySpec;
    ParamBinding<O> b;
    b.field("name", &O::name, "modality name the models refer to (e.g. text, image)");
    b.field("path", &O::path, "feature file, relative to the experiment file");
    b.field("format", &O::format,
            "npy: float32/float16, [items, dim] or [items, tokens, dim]; raw: little-endian float32 rows")
        .one_of({"npy", "raw"});
    b.field("shape", &O::shape, "raw files: one vector per item, or tokens x dim per item").one_of({"pooled", "tokens"});
    b.field("dim", &O::dim, "raw files: vector dimension").range(0, 1 << 20);
    b.field("tokens", &O::tokens, "raw token-level files: tokens per item").range(0, 1 << 20);
    b.field("mask", &O::mask_path, "token-level: .npy [items, tokens] of 0/1 marking real tokens (default: all real)");
    b.field("id_map", &O::id_map,
            "\"token\": the item token is its row number; otherwise a file of 'item<TAB>row' lines "
            "(e.g. UniSRec's *.item2index)");
    b.field("missing", &O::missing, "an item without a row: error, or zero features with every token masked")
        .one_of({"error", "zero"});
    return b;
  }();
  return p;
}

const ParamBinding<SyntheticOptions>& synthetic_params() {
  static const ParamBinding<SyntheticOptions> p = [] {
    using O = SyntheticOptions;
    ParamBinding<O> b;
    b.field("seed", &O::seed, "generator seed (the data, not the run)").range(0, 2147483647.0);
    b.field("users", &O::users, "number of users").range(1, 10000000);
    b.field("items", &O::items, "number of items").range(2, 10000000);
    b.field("clusters", &O::clusters, "latent item clusters driving behaviour and features").range(1, 100000);
    b.field("zipf", &O::zipf, "popularity exponent within a cluster").range(0.0, 5.0);
    b.field("min_length", &O::min_length, "shortest user sequence").range(3, 100000);
    b.field("max_length", &O::max_length, "longest user sequence").range(3, 100000);
    b.field("stickiness", &O::stickiness, "probability of staying in the current cluster").range(0.0, 1.0);
    b.field("successor", &O::successor, "probability the next item follows the previous one").range(0.0, 1.0);
    b.field("cold_fraction", &O::cold_fraction, "share of items absent from training").range(0.0, 0.9);
    b.field("cold_target_rate", &O::cold_target_rate, "probability a test target is a cold item").range(0.0, 1.0);
    b.field("feature_dim", &O::feature_dim, "dimension of the pooled text and image features").range(1, 4096);
    b.field("feature_noise", &O::feature_noise, "item-specific noise around the cluster centre").range(0.0, 100.0);
    b.field("text_tokens", &O::text_tokens,
            "token-level 'text_tokens' per item (0 = none): a noise [CLS], then real tokens of varying count, "
            "some carrying the cluster")
        .range(0, 512);
    b.field("image_tokens", &O::image_tokens,
            "token-level 'image_tokens' per item (0 = none): a noise class token, then patches, some carrying the "
            "cluster")
        .range(0, 512);
    b.choice("first_token", &O::first_token_summary, {{"noise", false}, {"summary", true}},
             "the first token of text_tokens and image_tokens: noise, or a summary carrying the cluster as a real "
             "encoder's [CLS] / class token does")
        .added_after_release();
    return b;
  }();
  return p;
}

const ParamBinding<ProtocolOptions>& protocol_params() {
  static const ParamBinding<ProtocolOptions> p = [] {
    using O = ProtocolOptions;
    ParamBinding<O> b;
    b.field("split", &O::split,
            "leave_one_out: last item = test, second-to-last = validation, rest = training; temporal: one global "
            "timeline cut at two timestamps (training before valid_start, validation before test_start, test after); "
            "published: the split the data files ship with (Amazon Reviews 2023 timestamp split, MMRec x_label)")
        .one_of({"leave_one_out", "temporal", "published"});
    b.field("valid_start", &O::valid_start,
            "temporal: timestamp where the validation period begins (0 = where the last valid_share + test_share of "
            "all interactions begin)")
        .range(0.0, 1e300)
        .added_after_release();
    b.field("test_start", &O::test_start,
            "temporal: timestamp where the test period begins (0 = where the last test_share of all interactions "
            "begin)")
        .range(0.0, 1e300)
        .added_after_release();
    b.field("valid_share", &O::valid_share, "temporal without valid_start: share of all interactions in the "
                                            "validation period")
        .range(0.0, 1.0)
        .added_after_release();
    b.field("test_share", &O::test_share, "temporal without test_start: share of all interactions in the test period")
        .range(0.0, 1.0)
        .added_after_release();
    b.field("targets", &O::targets,
            "temporal, published: which events of a user's validation and test periods are ranked: every next item, "
            "the first or the last (each given all the user's earlier items)")
        .one_of({"every", "first", "last"})
        .added_after_release();
    b.field("train_samples", &O::train_samples,
            "all_position: one sample per user, every position predicts the next item; "
            "prefix: every prefix is a sample predicting its next item")
        .one_of({"all_position", "prefix"});
    b.field("max_len", &O::max_len, "maximum input length L (the most recent items are kept)").range(1, 4096);
    b.field("candidates", &O::candidates,
            "full: rank the target against every item; sampled: against [protocol].negatives items")
        .one_of({"full", "sampled"});
    b.field("negatives", &O::negatives, "sampled: negatives per user").range(1, 100000);
    b.field("negatives_file", &O::negatives_file,
            "sampled: 'user neg1 ... negN' lines (relative to the experiment file); empty = draw them");
    b.field("negatives_seed", &O::negatives_seed,
            "sampled without a file: seed of the draw (uniform over items the user never touched)")
        .range(0, 2147483647.0);
    b.field("mask_history", &O::mask_history, "remove the user's history items from the candidates (except the target)");
    b.field("ties", &O::ties, "tie term of the count-based rank: #ties/2, 0 or #ties")
        .one_of({"expected", "optimistic", "pessimistic"});
    b.field("metrics", &O::metrics, "metrics to compute").one_of({"hr", "recall", "ndcg", "mrr"});
    b.field("ks", &O::ks, "cut-offs K").range(1, 100000);
    b.field("select", &O::select, "validation metric for early stopping and the best epoch");
    b.field("diversity_modality", &O::diversity_modality,
            "a [[modality]] with pooled features: the test's top-K lists also get intra-list diversity (mean cosine "
            "distance of the items' features); empty = none. Coverage, popularity and novelty are always recorded")
        .added_after_release();
    return b;
  }();
  return p;
}

namespace {

void bind_optimisation(ParamBinding<TrainOptions>& b) {
  using O = TrainOptions;
  b.field("optimizer", &O::optimizer, "optimizer").one_of({"adam", "adamw"});
  b.field("lr", &O::lr, "learning rate").range(1e-8, 10.0);
  b.field("weight_decay", &O::weight_decay, "weight decay (L2 for adam, decoupled for adamw)").range(0.0, 10.0);
  b.field("clip_norm", &O::clip_norm, "gradient clipping by global norm (0 = off)").range(0.0, 1e6);
  b.field("epochs", &O::epochs, "maximum number of epochs").range(1, 100000);
  b.field("patience", &O::patience, "stop after this many evaluations without improvement (0 = never stop early)")
      .range(0, 100000);
  b.field("eval_every", &O::eval_every, "evaluate on validation every N epochs").range(1, 100000);
  b.field("batch_size", &O::batch_size, "training batch size (sequences)").range(1, 1000000);
  b.field("length_buckets", &O::length_buckets,
          "group samples of similar length into batches (faster on short sequences; changes which samples share "
          "a batch)");
}

void bind_execution(ParamBinding<TrainOptions>& b) {
  using O = TrainOptions;
  b.field("eval_batch_size", &O::eval_batch_size,
          "users per evaluation batch (metrics do not depend on it); 0 = 256 on the CPU, 1,024 on a GPU")
      .range(0, 1000000);
  b.field("eval_item_block", &O::eval_item_block,
          "items scored at once in full-ranking evaluation (ranks do not depend on it), so that memory does not grow "
          "with the catalogue; 0 = 1,024 on the CPU (a batch's scores then stay in the core's cache), on a GPU as "
          "many as keep a batch's scores within 1 GB")
      .range(0, 1000000000);
  b.field("threads", &O::threads, "CPU threads for LibTorch, per process (0 = all cores, shared by the processes)")
      .range(0, 1024);
  b.field("processes", &O::processes,
          "data-parallel training over this many processes of the machine (c10d over Gloo), one per CUDA device on "
          "a GPU machine: each trains on its share of every batch and gradients are summed; losses that draw "
          "negatives from the batch see only the process's share")
      .range(1, 256);
  b.field("device", &O::device, "auto (a GPU when there is one), cpu, cuda or cuda:N");
  b.field("precision", &O::precision,
          "bf16: forward passes under bfloat16 autocast on a CUDA device (no loss scaling needed); on the CPU runs "
          "stay fp32 (the run records the device it used)")
      .one_of({"fp32", "bf16"});
  b.field("fast_dropout", &O::fast_dropout,
          "CPU dropout masks from a counter-based generator seeded by torch's (same distribution, p rounded to "
          "1/65536; several times faster than torch's serial Bernoulli on non-Intel CPUs); changes the random "
          "stream, so it is part of a run's identity");
}

// KDSR's trainable modality embeddings and its asynchronous learning step (METHODS.md section 6).
void bind_adaptation(ParamBinding<TrainOptions>& b) {
  using O = TrainOptions;
  b.field("adapt", &O::adapt,
          "modalities whose per-item vector (pooled, or the first token) becomes a trainable embedding initialised "
          "from the features; the tower reads it instead of the frozen vector, and correlation losses supervise it");
  b.field("adapt_lr_scale", &O::adapt_lr_scale,
          "learning rate of the adapted embeddings relative to lr (KDSR's asynchronous step: 1/gamma^2 = 0.25)")
      .range(0.0, 1e3);
  b.field("adapt_milestones", &O::adapt_milestones,
          "epochs at which the adapted embeddings' learning rate is multiplied by adapt_gamma")
      .range(1, 100000);
  b.field("adapt_gamma", &O::adapt_gamma, "the factor applied at each of adapt_milestones").range(1e-3, 1e3);
}

}  // namespace

const ParamBinding<TrainOptions>& train_params() {
  static const ParamBinding<TrainOptions> p = [] {
    ParamBinding<TrainOptions> b;
    bind_optimisation(b);
    bind_execution(b);
    bind_adaptation(b);
    return b;
  }();
  return p;
}

const ParamDecl& experiment_section() {
  static const ParamDecl d = experiment_params().decl();
  return d;
}
const ParamDecl& data_section() {
  static const ParamDecl d = data_params().decl();
  return d;
}
const ParamDecl& synthetic_section() {
  static const ParamDecl d = synthetic_params().decl();
  return d;
}
const ParamDecl& modality_section() {
  static const ParamDecl d = modality_params().decl();
  return d;
}
const ParamDecl& protocol_section() {
  static const ParamDecl d = protocol_params().decl();
  return d;
}
const ParamDecl& train_section() {
  static const ParamDecl d = train_params().decl();
  return d;
}

}  // namespace mmsr
