// The acceptor g(x) ∈ [0, 1]: predicts whether the surrogate agrees with the teacher on x.
//
// Its input features summarize the surrogate's probability vector — top-1 and top-2
// probability, their margin, entropy normalized by log K — and optionally
//  - the agreement of the k nearest training neighbours' teacher labels with the surrogate's
//    prediction (DESIGN.md's calibration notes: the largest single gain measured), and
//  - the embedding itself.
// The acceptor model is any zoo Classifier trained on {0: disagrees, 1: agrees}; it must be
// trained on rows that did not train the surrogate and are not the calibration rows.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/data/label_space.h"
#include "core/data/matrix.h"
#include "core/model/classifier.h"
#include "core/util/context.h"

namespace deferbench {

struct AcceptorOptions {
  YAML::Node model = YAML::Load("{name: logreg}");  // a zoo model spec
  int knn = 10;                // neighbours for the agreement feature; 0 turns it off
  bool use_embedding = false;  // append the input features

  // The `acceptor` section: keys model (a mapping), knn (0…1000), use_embedding.
  static AcceptorOptions from_yaml(const YAML::Node& node, const std::string& path);
};

// Exact brute-force k-nearest neighbours (squared Euclidean distance) over the training rows,
// answering "what share of x's k nearest training rows carry the teacher label `pred`?".
//
// The search is blocked (a block of queries against every training row, so the training matrix
// is streamed once per block, not once per query) and the neighbour table of a query matrix is
// memoized: it depends on the features only, not on the surrogate, so every model of a zoo,
// every stage's val / cal / test evaluation and the acceptor's training share one search. The
// memo is keyed by k and a 128-bit fingerprint of the query matrix's shape and contents, holds
// the most recent kMemoEntries tables, and is thread-safe.
class NeighbourIndex {
 public:
  NeighbourIndex(MatrixView train_x, std::vector<LabelId> train_teacher);
  NeighbourIndex(const NeighbourIndex&) = delete;
  NeighbourIndex& operator=(const NeighbourIndex&) = delete;

  // The k' = min(k, training rows) nearest training rows of every query row, nearest first:
  // rows[i·k' + j] and their squared distances dist[i·k' + j]. Ties in distance are broken by
  // the lower training row index (deterministic).
  struct Table {
    std::size_t k = 0;
    std::vector<std::uint32_t> rows;
    std::vector<float> dist;
  };
  std::shared_ptr<const Table> nearest(MatrixView x, int k, int threads) const;

  // For each row i of x: the fraction of its k nearest training rows whose teacher label is
  // pred[i].
  std::vector<float> agreement(MatrixView x, const std::vector<LabelId>& pred, int k,
                               int threads) const;

  // Euclidean distance from each row of x to its k-th nearest training row.
  std::vector<float> kth_distance(MatrixView x, int k, int threads) const;

  const Matrix& train() const { return train_; }
  const std::vector<LabelId>& teacher() const { return teacher_; }

  static constexpr std::size_t kMemoEntries = 8;
  std::size_t searches() const;  // tables computed (memo misses), for tests and logs

 private:
  Table search(MatrixView x, std::size_t k, int threads) const;

  Matrix train_;
  std::vector<float> norms_;
  std::vector<LabelId> teacher_;

  struct MemoKey {
    std::uint64_t h1, h2;
    std::size_t rows, cols, k;
    bool operator==(const MemoKey& o) const {
      return h1 == o.h1 && h2 == o.h2 && rows == o.rows && cols == o.cols && k == o.k;
    }
  };
  mutable std::mutex mu_;
  mutable std::vector<std::pair<MemoKey, std::shared_ptr<const Table>>> memo_;  // newest last
  mutable std::size_t searches_ = 0;
};

// The acceptor's input matrix: rows × (4 [+1 knn] [+ d embedding]) =
// [top1, top2, top1 − top2, H(p)/log K, (knn agreement), (embedding…)]. `knn_agreement` may be
// empty (feature left out); `embedding` may be empty (left out). K ≤ 1 gives entropy 0.
// −Σ p ln p over the positive entries of p[0 … k) (a vectorized logarithm, within 1e-6 of
// std::log's answer), the entropy feature before normalization.
float entropy_of(const float* p, std::size_t k);

Matrix acceptor_features(MatrixView proba, const std::vector<float>& knn_agreement,
                         MatrixView embedding);

class Acceptor {
 public:
  explicit Acceptor(std::unique_ptr<Classifier> model) : model_(std::move(model)) {}
  // A fitted acceptor from its parts (a loaded policy): constant −1 uses `model`.
  Acceptor(std::unique_ptr<Classifier> model, int constant)
      : model_(std::move(model)), constant_(constant) {}

  // Trains on the acceptor features of some rows and whether the surrogate agreed there.
  // All rows agreeing (or none) gives a constant acceptor (score 1, resp. 0).
  void fit(const Matrix& features, const std::vector<std::uint8_t>& agrees, const Context& ctx);
  // P(agree) per row.
  std::vector<float> score(MatrixView features, const Context& ctx) const;

  const Classifier* model() const { return constant_ >= 0 ? nullptr : model_.get(); }
  // -1: a trained model; 0 or 1: the constant score.
  int constant() const { return constant_; }

 private:
  std::unique_ptr<Classifier> model_;
  int constant_ = -1;
};

}  // namespace deferbench
