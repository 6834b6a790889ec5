#include "experiments/experts_settings.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "core/config/fields.h"
#include "core/util/error.h"
#include "experiments/experts_rejector.h"

namespace deferbench {

namespace {

std::vector<double> number_list(FieldReader& r, const std::string& key, double lo, double hi) {
  std::vector<double> out;
  for (const std::string& t : r.get_string_list(key, {})) {
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    DB_CHECK(!t.empty() && end == t.c_str() + t.size() && v >= lo && v <= hi,
             "config: '{}': expected numbers in [{}, {}], got '{}'", r.key_path(key), lo, hi, t);
    out.push_back(v);
  }
  return out;
}

const std::set<std::string> kMethods{"bayes_plugin", "two_stage", "cascade", "random"};

}  // namespace

ExpertsSettings ExpertsSettings::from_yaml(const YAML::Node& node, const std::string& path) {
  ExpertsSettings s;
  FieldReader r(node, path);
  s.surrogate = r.get_bool("surrogate", s.surrogate);
  s.surrogate_cost.beta = r.get_double("surrogate_cost", 0.0, 0.0, 1e12);
  s.surrogate_cost.alpha = r.get_double("surrogate_weight", 1.0, 0.0, 1e12);
  s.reference = r.get_string("reference", s.reference);
  DB_CHECK(r.has("models") && node["models"].IsSequence() && node["models"].size() > 0,
           "config: '{}.models': expected a list of experts ({{name, column, cost, weight, "
           "kind}}), at least one",
           path);
  r.allow("models");
  for (std::size_t i = 0; i < node["models"].size(); ++i) {
    const YAML::Node m = node["models"][i];
    const std::string at = fmt::format("{}.models[{}]", path, i);
    DB_CHECK(m.IsMap(), "config: '{}': expected a mapping {{name, column, cost, weight, kind}}",
             at);
    FieldReader e(m, at);
    ExpertSpec x;
    x.name = e.require_string("name");
    x.column = e.get_string("column", x.name);
    x.cost.beta = e.get_double("cost", 0.0, 0.0, 1e12);
    x.cost.alpha = e.get_double("weight", 1.0, 0.0, 1e12);
    x.kind = e.get_choice("kind", "answer", {"answer", "correctness"}) == "answer"
                 ? ExpertColumnKind::kAnswer
                 : ExpertColumnKind::kCorrectness;
    e.finish();
    DB_CHECK(x.name != "surrogate" && x.name != "oracle",
             "config: '{}.name': '{}' is reserved; expected another name", at, x.name);
    for (const ExpertSpec& y : s.experts)
      DB_CHECK(y.name != x.name, "config: '{}.name': '{}' is taken by another expert", at, x.name);
    s.experts.push_back(std::move(x));
  }
  if (r.has("methods")) {
    s.methods = r.get_string_list("methods", {});
    for (std::size_t i = 0; i < s.methods.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        DB_CHECK(s.methods[i] != s.methods[j],
                 "config: '{}.methods': '{}' is listed twice; expected each method once", path,
                 s.methods[i]);
    for (const std::string& m : s.methods)
      DB_CHECK(kMethods.count(m),
               "config: '{}.methods': unknown method '{}'; expected some of "
               "bayes_plugin, two_stage, cascade, random",
               path, m);
  }
  s.lambdas = number_list(r, "lambdas", 0.0, 1e15);
  std::sort(s.lambdas.begin(), s.lambdas.end());
  s.lambda_points = static_cast<int>(r.get_int("lambda_points", s.lambda_points, 2, 10'000));
  s.budgets = number_list(r, "budgets", 0.0, 1e15);
  s.targets = number_list(r, "targets", 1e-9, 1.0);
  s.delta = r.get_double("delta", s.delta, 1e-12, 1.0 - 1e-12);
  s.folds = static_cast<int>(r.get_int("folds", s.folds, 2, 100));
  s.estimator = r.get_map("estimator");
  if (!s.estimator["name"]) s.estimator["name"] = "logreg";
  s.rejector = r.get_map("rejector");
  if (!s.rejector["name"]) s.rejector["name"] = "logreg";
  // The parameters are checked now, not after the data are read.
  s.rejectors = rejector_specs(s.rejector,
                               r.has("rejector_grid") ? node["rejector_grid"] : YAML::Node(), path);
  r.allow("rejector_grid");
  r.finish();
  DB_CHECK(!(s.surrogate && s.reference == "none"),
           "config: '{}.reference': none, but the surrogate's answers need a reference; expected "
           "gold or an expert's name (or surrogate: false)",
           path);
  DB_CHECK(s.surrogate || s.experts.size() >= 2,
           "config: '{}': with surrogate: false, expected at least two experts to route among",
           path);
  return s;
}

std::vector<double> lambda_grid(const ExpertsSettings& es, const std::vector<ChoiceCost>& choices) {
  if (!es.lambdas.empty()) return es.lambdas;
  double a = 0;
  std::vector<double> betas;
  for (const ChoiceCost& c : choices) {
    a = std::max(a, c.alpha);
    betas.push_back(c.beta);
  }
  std::sort(betas.begin(), betas.end());
  double gap = std::numeric_limits<double>::infinity();
  for (std::size_t j = 1; j < betas.size(); ++j)
    if (betas[j] > betas[j - 1]) gap = std::min(gap, betas[j] - betas[j - 1]);
  std::vector<double> grid{0.0};
  if (!std::isfinite(gap)) return grid;  // every choice costs the same: λ changes nothing
  a = std::max(a, 1e-12);
  const double lo = 0.01 * a / (betas.back() - betas.front()), hi = 2.0 * a / gap;
  const int n = es.lambda_points - 1;
  for (int k = 0; k < n; ++k) {
    const double f = n == 1 ? 1.0 : static_cast<double>(k) / (n - 1);
    grid.push_back(lo * std::pow(hi / lo, f));
  }
  return grid;
}

}  // namespace deferbench
