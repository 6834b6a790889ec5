#include "experiments/experts_rejector.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/config/compose.h"
#include "core/util/error.h"
#include "models/dense/logreg.h"
#include "models/dense/mlp.h"

namespace deferbench {

namespace {

constexpr std::size_t kMaxSpecs = 64;

// Checks one spec's parameters (errors name `path`.<key>).
void check_spec(const YAML::Node& spec, const std::string& path) {
  if (spec["name"].as<std::string>() == "mlp")
    MlpParams::from_yaml(spec, path, MlpParams{});
  else
    LogRegParams::from_yaml(spec, path);
}

}  // namespace

std::vector<YAML::Node> rejector_specs(const YAML::Node& rejector, const YAML::Node& grid,
                                       const std::string& path) {
  const std::string name = rejector["name"].as<std::string>();
  DB_CHECK(name == "logreg" || name == "mlp",
           "config: '{}.rejector.name': '{}'; expected logreg or mlp (the two-stage rejector is a "
           "cost-weighted logistic regression or MLP)",
           path, name);
  check_spec(rejector, path + ".rejector");
  std::vector<YAML::Node> specs{clone(rejector)};
  if (!grid || grid.IsNull()) return specs;
  const std::string at = path + ".rejector_grid";
  DB_CHECK(grid.IsMap(), "config: '{}': expected a mapping from rejector parameters to lists", at);
  for (const auto& kv : grid) {
    const std::string key = kv.first.as<std::string>();
    DB_CHECK(key != "name",
             "config: '{}.name': the rejector's name cannot vary; expected "
             "parameters of {}",
             at, name);
    DB_CHECK(kv.second.IsSequence() && kv.second.size() > 0,
             "config: '{}.{}': expected a non-empty list of values", at, key);
    for (const YAML::Node& value : kv.second) {
      YAML::Node one = clone(rejector);
      one[key] = clone(value);
      check_spec(one, at);  // the rest was checked above: an error here names at.key
    }
    const std::size_t count = specs.size() * kv.second.size();
    DB_CHECK(count <= kMaxSpecs,
             "config: '{}': {} rejectors to fit at every λ; expected at most {}", at, count,
             kMaxSpecs);
    std::vector<YAML::Node> next;  // each earlier spec with each value: the last key fastest
    for (const YAML::Node& spec : specs)
      for (const YAML::Node& value : kv.second) {
        YAML::Node n = clone(spec);
        n[key] = clone(value);
        next.push_back(n);
      }
    specs = std::move(next);
  }
  return specs;
}

std::unique_ptr<Classifier> fit_rejector(const YAML::Node& spec, MatrixView train_x,
                                         const Correctness& train_correct,
                                         const std::vector<ChoiceCost>& choices, double lambda,
                                         const Context& ctx) {
  const Matrix w = comp_sum_weights(cost_matrix(train_correct, choices, lambda));
  std::vector<std::size_t> keep;
  double total = 0;
  for (std::size_t i = 0; i < w.rows(); ++i) {
    double s = 0;
    for (std::size_t j = 0; j < w.cols(); ++j) s += w(i, j);
    if (s > 0) {
      keep.push_back(i);
      total += s;
    }
  }
  if (keep.empty()) return nullptr;
  const double scale = static_cast<double>(keep.size()) / total;
  const std::size_t d = train_x.cols();
  Matrix x(keep.size(), d), wk(keep.size(), w.cols());
  for (std::size_t r = 0; r < keep.size(); ++r) {
    std::copy_n(train_x.row(keep[r]), d, x.row(r));
    for (std::size_t j = 0; j < w.cols(); ++j) wk(r, j) = static_cast<float>(w(keep[r], j) * scale);
  }
  if (spec["name"].as<std::string>() == "mlp") {
    MlpParams params = MlpParams::from_yaml(spec, "experts.rejector", MlpParams{});
    const char* name = params.hidden.size() <= 1 ? "mlp_1h" : "mlp_2h";  // as saved
    auto rejector = std::make_unique<Mlp>(name, std::move(params));
    rejector->fit_cost_weighted(x, wk, ctx);
    return rejector;
  }
  auto rejector = std::make_unique<LogReg>(LogRegParams::from_yaml(spec, "experts.rejector"));
  rejector->fit_cost_weighted(x, wk, ctx);
  return rejector;
}

ChosenRejector choose_rejector(const std::vector<YAML::Node>& specs, MatrixView train_x,
                               const Correctness& train_correct, MatrixView val_x,
                               const Correctness& val_correct,
                               const std::vector<ChoiceCost>& choices, double lambda,
                               const Context& ctx, std::uint64_t stream) {
  DB_ASSERT(!specs.empty());
  const Context fit_ctx = ctx.derive(stream);
  ChosenRejector out;
  if (specs.size() == 1) {
    out.model = fit_rejector(specs[0], train_x, train_correct, choices, lambda, fit_ctx);
    return out;
  }
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t s = 0; s < specs.size(); ++s) {
    std::shared_ptr<const Classifier> model =
        fit_rejector(specs[s], train_x, train_correct, choices, lambda, fit_ctx);
    if (!model) {  // no row carried a cost: no spec can fit (the weights do not depend on it)
      out.val_cost.assign(specs.size(), std::numeric_limits<double>::quiet_NaN());
      return out;
    }
    const std::vector<LabelId> r = model->predict(val_x, ctx);
    const double cost =
        routing_outcome(std::vector<int>(r.begin(), r.end()), val_correct, choices, lambda)
            .cost_per_query;
    out.val_cost.push_back(cost);
    if (cost < best) {
      best = cost;
      out.model = std::move(model);
      out.spec = s;
    }
  }
  return out;
}

}  // namespace deferbench
