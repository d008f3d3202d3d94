// SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation",
// ICDM 2018) on libtorch: a causal self-attention next-item model behind
// core::SequenceModel. Built only with -DAISLE_WITH_TORCH=ON (Debian's
// libtorch-dev); nothing in the default build includes this folder, and
// this header includes no torch header, so its users compile without it.
//
// Model: item embeddings (scaled by sqrt(hidden)) plus learned positional
// embeddings counted from the end of the sequence, `blocks` single-head
// causal self-attention blocks (pre-layer-norm query, residual, point-wise
// two-layer feed-forward, dropout), a final layer norm; the score of item
// i after position t is the dot product of the output at t with item i's
// embedding (shared input/output embeddings, as the paper). Loss: full
// softmax cross-entropy over every item at every position (affordable for
// a catalogue of a few thousand items; the paper's one sampled negative is
// cheaper but weaker). Adam, betas (0.9, 0.98).
//
// Training data: per user, inputs s_1..s_{n-1}, targets s_2..s_n, the last
// max_length positions; batches of users of similar length (less padding),
// in a random order each epoch.
//
// Thread safety: as core::SequenceModel (Score is const and runs no
// autograd; concurrent Score calls share the parameters read-only).
#ifndef AISLE_SEQMODEL_SASREC_H_
#define AISLE_SEQMODEL_SASREC_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "core/sequence_model.h"

namespace aisle::seqmodel {

struct SasRecOptions {
  int max_length = 200;  // positions kept per user (the most recent)
  int hidden = 64;
  int blocks = 2;
  double dropout = 0.2;  // embeddings, attention weights, feed-forward
  double learning_rate = 1e-3;
  int batch_size = 128;  // users per batch
  uint64_t seed = 42;    // parameter initialisation and batch order
  // Intra-op threads of libtorch (process-wide: torch::set_num_threads).
  // 0 = leave libtorch's default (every core).
  int threads = 2;
  // Called after every epoch with the epoch number (1-based, counted over
  // all Train calls) and its mean loss per position; may be empty.
  std::function<void(int epoch, double loss)> on_epoch;
};

// A new, untrained SASRec. Errors: InvalidArgument naming the field for
// max_length < 1, hidden < 1, blocks < 1, dropout outside [0, 1),
// learning_rate <= 0, batch_size < 1, threads < 0.
absl::StatusOr<std::unique_ptr<core::SequenceModel>> NewSasRec(
    const SasRecOptions& options);

}  // namespace aisle::seqmodel

#endif  // AISLE_SEQMODEL_SASREC_H_
