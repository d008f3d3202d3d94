#include "seqmodel/sasrec.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aisle::seqmodel {
namespace {

// One self-attention block, as the paper's reference code: the query is
// layer-normed, keys and values are not; residuals around attention and the
// feed-forward; padding positions zeroed at the end.
struct BlockImpl : torch::nn::Module {
  BlockImpl(int hidden, double dropout)
      : ln_attn(torch::nn::LayerNormOptions({hidden}).eps(1e-8)),
        query(hidden, hidden),
        key(hidden, hidden),
        value(hidden, hidden),
        out(hidden, hidden),
        ln_ffn(torch::nn::LayerNormOptions({hidden}).eps(1e-8)),
        ff1(hidden, hidden),
        ff2(hidden, hidden),
        dropout(dropout),
        scale(1.0 / std::sqrt(static_cast<double>(hidden))) {
    register_module("ln_attn", ln_attn);
    register_module("query", query);
    register_module("key", key);
    register_module("value", value);
    register_module("out", out);
    register_module("ln_ffn", ln_ffn);
    register_module("ff1", ff1);
    register_module("ff2", ff2);
  }

  // x [B, L, H]; blocked [B, L, L] (true = may not attend); keep [B, L, 1].
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& blocked,
                        const torch::Tensor& keep) {
    const bool training = is_training();
    torch::Tensor q = ln_attn(x);
    torch::Tensor scores =
        torch::matmul(query(q), key(x).transpose(1, 2)) * scale;
    scores =
        scores.masked_fill(blocked, -std::numeric_limits<float>::infinity());
    torch::Tensor weights =
        torch::dropout(torch::softmax(scores, -1), dropout, training);
    x = q + out(torch::matmul(weights, value(x)));
    x = ln_ffn(x);
    torch::Tensor ff = torch::dropout(
        ff2(torch::dropout(torch::relu(ff1(x)), dropout, training)), dropout,
        training);
    return (x + ff) * keep;
  }

  torch::nn::LayerNorm ln_attn;
  torch::nn::Linear query, key, value, out;
  torch::nn::LayerNorm ln_ffn;
  torch::nn::Linear ff1, ff2;
  double dropout;
  double scale;
};
TORCH_MODULE(Block);

struct NetImpl : torch::nn::Module {
  NetImpl(int64_t num_items, const SasRecOptions& o)
      : items(torch::nn::EmbeddingOptions(num_items + 1, o.hidden)
                  .padding_idx(0)),
        positions(o.max_length, o.hidden),
        last(torch::nn::LayerNormOptions({o.hidden}).eps(1e-8)),
        max_length(o.max_length),
        dropout(o.dropout),
        embedding_scale(std::sqrt(static_cast<double>(o.hidden))) {
    register_module("items", items);
    register_module("positions", positions);
    for (int b = 0; b < o.blocks; ++b) {
      blocks.push_back(register_module(absl::StrCat("block", b),
                                       Block(o.hidden, o.dropout)));
    }
    register_module("last", last);
    // Xavier-normal for every matrix, as the reference implementation (the
    // default N(0, 1) embeddings times sqrt(hidden) swamp the positions).
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : parameters()) {
      if (p.dim() == 2) torch::nn::init::xavier_normal_(p);
    }
    items->weight[0].zero_();
  }

  // seq [B, L] of item index + 1, left-padded with 0. Returns [B, L, H].
  torch::Tensor Encode(const torch::Tensor& seq) {
    const int64_t length = seq.size(1);
    torch::Tensor keep = seq.ne(0).unsqueeze(-1).to(torch::kFloat);
    // Positions count from the end, so the latest item always has the same
    // position whatever the padding (and serving needs none).
    torch::Tensor pos = torch::arange(max_length - length, max_length,
                                      torch::TensorOptions(torch::kLong));
    torch::Tensor x = items(seq) * embedding_scale + positions(pos);
    x = torch::dropout(x, dropout, is_training()) * keep;
    torch::Tensor future = torch::ones({length, length}, torch::kBool).triu(1);
    torch::Tensor blocked = future.unsqueeze(0) | seq.eq(0).unsqueeze(1);
    // A padding query would have nothing to attend to (a NaN softmax): let
    // every position see itself; padding outputs are zeroed anyway.
    blocked = blocked & torch::eye(length, torch::kBool).logical_not();
    for (Block& block : blocks) x = block->forward(x, blocked, keep);
    return last(x);
  }

  // Scores of every item (index 0..N-1) for hidden states h [M, H].
  torch::Tensor Logits(const torch::Tensor& h) {
    return torch::matmul(h, items->weight.slice(0, 1).t());
  }

  torch::nn::Embedding items;
  torch::nn::Embedding positions;
  std::vector<Block> blocks;
  torch::nn::LayerNorm last;
  int64_t max_length;
  double dropout;
  double embedding_scale;
};
TORCH_MODULE(Net);

class SasRec final : public core::SequenceModel {
 public:
  explicit SasRec(const SasRecOptions& options)
      : options_(options), rng_(options.seed) {}

  std::string_view name() const override { return "sasrec"; }

  absl::Status Train(std::span<const std::vector<int32_t>> sequences,
                     int32_t num_items, int epochs) override {
    if (num_items < 1) return absl::InvalidArgumentError("num_items < 1");
    if (epochs < 0) return absl::InvalidArgumentError("epochs < 0");
    if (num_items_ != 0 && num_items != num_items_) {
      return absl::InvalidArgumentError(
          absl::StrCat("num_items ", num_items, " differs from the first ",
                       "Train call's ", num_items_));
    }
    for (const std::vector<int32_t>& s : sequences) {
      for (int32_t item : s) {
        if (item < 0 || item >= num_items) {
          return absl::InvalidArgumentError(absl::StrCat(
              "item index ", item, " outside [0, ", num_items, ")"));
        }
      }
    }
    try {
      return TrainChecked(sequences, num_items, epochs);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("libtorch: ", e.what()));
    }
  }

  absl::StatusOr<std::vector<float>> Score(
      std::span<const int32_t> sequence) const override {
    if (num_items_ == 0) {
      return absl::FailedPreconditionError("Score before Train");
    }
    if (sequence.empty()) return absl::InvalidArgumentError("empty sequence");
    for (int32_t item : sequence) {
      if (item < 0 || item >= num_items_) {
        return absl::InvalidArgumentError(absl::StrCat(
            "item index ", item, " outside [0, ", num_items_, ")"));
      }
    }
    try {
      torch::NoGradGuard no_grad;
      const size_t length =
          std::min(sequence.size(), static_cast<size_t>(options_.max_length));
      std::vector<int64_t> ids(length);
      for (size_t i = 0; i < length; ++i) {
        ids[i] = sequence[sequence.size() - length + i] + 1;
      }
      torch::Tensor seq =
          torch::from_blob(ids.data(), {1, static_cast<int64_t>(length)},
                           torch::kLong)
              .clone();
      torch::Tensor h = net_->Encode(seq).select(1, length - 1);
      torch::Tensor logits = net_->Logits(h).squeeze(0).contiguous();
      const float* data = logits.data_ptr<float>();
      return std::vector<float>(data, data + num_items_);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("libtorch: ", e.what()));
    }
  }

 private:
  struct Batch {
    torch::Tensor inputs;   // [B, L], item index + 1, 0 = padding
    torch::Tensor targets;  // [B, L], item index, -100 = none
  };

  // The epoch's batches: users shuffled, then ordered by length with some
  // noise so that batches hold similar lengths but differ between epochs.
  std::vector<Batch> MakeBatches(
      std::span<const std::vector<int32_t>> sequences) {
    std::vector<std::pair<double, size_t>> order;
    std::uniform_real_distribution<double> noise(0, 16);
    for (size_t u = 0; u < sequences.size(); ++u) {
      if (sequences[u].size() < 2) continue;
      const size_t n = std::min(sequences[u].size() - 1,
                                static_cast<size_t>(options_.max_length));
      order.emplace_back(static_cast<double>(n) + noise(rng_), u);
    }
    std::sort(order.begin(), order.end());
    std::vector<Batch> batches;
    const size_t size = static_cast<size_t>(options_.batch_size);
    for (size_t begin = 0; begin < order.size(); begin += size) {
      const size_t end = std::min(order.size(), begin + size);
      size_t length = 0;
      for (size_t i = begin; i < end; ++i) {
        length = std::max(length,
                          std::min(sequences[order[i].second].size() - 1,
                                   static_cast<size_t>(options_.max_length)));
      }
      const auto rows = static_cast<int64_t>(end - begin);
      std::vector<int64_t> in(rows * length, 0), target(rows * length, -100);
      for (size_t i = begin; i < end; ++i) {
        const std::vector<int32_t>& s = sequences[order[i].second];
        const size_t n = std::min(s.size() - 1, length);
        const size_t row = (i - begin) * length + (length - n);
        for (size_t j = 0; j < n; ++j) {
          in[row + j] = s[s.size() - 1 - n + j] + 1;
          target[row + j] = s[s.size() - n + j];
        }
      }
      const auto cols = static_cast<int64_t>(length);
      batches.push_back(
          {torch::from_blob(in.data(), {rows, cols}, torch::kLong).clone(),
           torch::from_blob(target.data(), {rows, cols}, torch::kLong)
               .clone()});
    }
    std::shuffle(batches.begin(), batches.end(), rng_);
    return batches;
  }

  absl::Status TrainChecked(std::span<const std::vector<int32_t>> sequences,
                            int32_t num_items, int epochs) {
    if (options_.threads > 0) torch::set_num_threads(options_.threads);
    if (num_items_ == 0) {
      torch::manual_seed(options_.seed);
      net_ = Net(num_items, options_);
      optimizer_ = std::make_unique<torch::optim::Adam>(
          net_->parameters(),
          torch::optim::AdamOptions(options_.learning_rate).betas({0.9, 0.98}));
      num_items_ = num_items;
    }
    net_->train();
    for (int e = 0; e < epochs; ++e) {
      double loss_sum = 0;
      int64_t positions = 0;
      for (const Batch& batch : MakeBatches(sequences)) {
        torch::Tensor mask = batch.targets.ge(0);
        torch::Tensor h = net_->Encode(batch.inputs).index({mask});
        torch::Tensor targets = batch.targets.index({mask});
        torch::Tensor loss =
            torch::nn::functional::cross_entropy(net_->Logits(h), targets);
        optimizer_->zero_grad();
        loss.backward();
        optimizer_->step();
        loss_sum += loss.item<double>() * static_cast<double>(targets.size(0));
        positions += targets.size(0);
      }
      ++epochs_done_;
      if (options_.on_epoch) {
        options_.on_epoch(epochs_done_,
                          positions > 0 ? loss_sum / positions : 0.0);
      }
    }
    net_->eval();
    return absl::OkStatus();
  }

  SasRecOptions options_;
  std::mt19937_64 rng_;
  int32_t num_items_ = 0;  // 0 until the first Train
  int epochs_done_ = 0;
  // mutable: Score (const) runs forward passes; in eval mode without
  // autograd they only read the parameters.
  mutable Net net_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<core::SequenceModel>> NewSasRec(
    const SasRecOptions& options) {
  if (options.max_length < 1) {
    return absl::InvalidArgumentError("max_length must be >= 1");
  }
  if (options.hidden < 1)
    return absl::InvalidArgumentError("hidden must be >= 1");
  if (options.blocks < 1)
    return absl::InvalidArgumentError("blocks must be >= 1");
  if (!(options.dropout >= 0 && options.dropout < 1)) {
    return absl::InvalidArgumentError("dropout must be in [0, 1)");
  }
  if (!(options.learning_rate > 0)) {
    return absl::InvalidArgumentError("learning_rate must be > 0");
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError("batch_size must be >= 1");
  }
  if (options.threads < 0)
    return absl::InvalidArgumentError("threads must be >= 0");
  return std::make_unique<SasRec>(options);
}

}  // namespace aisle::seqmodel
