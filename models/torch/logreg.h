// Multinomial logistic regression in LibTorch: minimizes
//   C · Σ_i cross_entropy(W x_i + b, y_i) + ½‖W‖²
// (scikit-learn's LogisticRegression objective; the intercept is not penalized) with full-batch
// L-BFGS on standardized features. The gradient is accumulated over row chunks, so memory stays
// bounded by one chunk whatever the number of rows.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "models/classifier.h"

namespace deferbench {

struct LogRegParams {
  double C = 1.0;           // inverse regularization strength, as in scikit-learn
  int max_iter = 100;       // L-BFGS iterations
  double tol = 1e-4;        // stop when the gradient's max-norm (scaled by 1/n) falls below
  bool standardize = true;  // learn mean / std on train
  int batch_rows = 65536;   // chunk size for gradients and inference

  // Keys: name, C (1e-6…1e6), max_iter (1…100000), tol (0…1), standardize, batch_rows.
  static LogRegParams from_yaml(const YAML::Node& node, const std::string& path);
};

class TorchLogReg final : public Classifier {
 public:
  explicit TorchLogReg(LogRegParams params);
  ~TorchLogReg() override;

  void fit(const Dataset& train, const Dataset* val, const Context& ctx) override;
  Matrix predict_proba(MatrixView x, const Context& ctx) const override;
  void save(const std::filesystem::path& path) const override;
  std::string_view name() const override { return "logreg"; }
  std::size_t n_classes() const override { return n_classes_; }

  static std::unique_ptr<TorchLogReg> load(const std::filesystem::path& path);

  const LogRegParams& params() const { return params_; }
  // The fitted model, for inspection: p = softmax(W ((x − mean) ⊙ scale) + b) over classes().
  const std::vector<std::int32_t>& classes() const { return classes_; }
  const Matrix& weight() const { return weight_; }
  const std::vector<float>& bias() const { return bias_; }
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& scale() const { return scale_; }

 private:
  LogRegParams params_;
  std::size_t n_classes_ = 0;          // global label space size
  std::vector<std::int32_t> classes_;  // global ids of the classes seen in training
  std::vector<float> mean_, scale_;    // standardization (scale = 1/std)
  Matrix weight_;                      // classes_.size() × d
  std::vector<float> bias_;            // classes_.size()
};

}  // namespace deferbench
