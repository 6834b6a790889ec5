#include "experiments/expert_policy_io.h"

#include <limits>
#include <set>
#include <string>

#include <fmt/format.h>

#include "core/util/error.h"

namespace deferbench {
namespace fs = std::filesystem;

void save_expert_policy(const fs::path& dir, const ExpertPolicy& policy,
                        const TextFeaturizer* featurizer, const LabelSpace& labels,
                        std::size_t feature_dim, const nlohmann::json& info) {
  validate_expert_policy(policy);
  DB_CHECK(!policy.surrogate || policy.surrogate->n_classes() == labels.size(),
           "save_expert_policy: the surrogate predicts {} classes; the label space has {}",
           policy.surrogate ? policy.surrogate->n_classes() : 0, labels.size());
  DB_CHECK(feature_dim >= 1 && feature_dim <= kMaxFeatureDim,
           "save_expert_policy: feature width {} (expected 1 to {})", feature_dim, kMaxFeatureDim);
  write_policy_folder(dir, "save_expert_policy", [&](const fs::path& tmp) {
    nlohmann::json m = manifest_header(tmp, kExpertsKind, featurizer, labels, feature_dim, info);
    m["method"] = policy.method;
    m["lambda"] = policy.lambda;
    m["has_surrogate"] = policy.has_surrogate;
    m["surrogate_features"] = policy.surrogate_features;
    m["surrogate"] =
        policy.surrogate ? save_model_files(*policy.surrogate, tmp, "surrogate") : nlohmann::json();
    m["rejector"] =
        policy.rejector ? save_model_files(*policy.rejector, tmp, "rejector") : nlohmann::json();
    nlohmann::json choices = nlohmann::json::array();
    for (std::size_t j = 0; j < policy.size(); ++j) {
      nlohmann::json c = {{"name", policy.names[j]},
                          {"alpha", policy.choices[j].alpha},
                          {"beta", policy.choices[j].beta},
                          {"estimator", nullptr}};
      if (policy.method == kBayesPlugin) {
        if (policy.estimators[j])
          c["estimator"] =
              save_model_files(*policy.estimators[j], tmp, fmt::format("choice{}_estimator", j));
        else
          c["constant_wrong"] = policy.constant_wrong[j];
      }
      choices.push_back(c);
    }
    m["choices"] = choices;
    return m;
  });
}

SavedExpertPolicy load_expert_policy(const fs::path& dir) {
  const fs::path mf = dir / "manifest.json";
  SavedExpertPolicy s;
  s.manifest = read_manifest(dir);
  const ManifestReader r(dir, s.manifest, kExpertsKind);
  const nlohmann::json& m = s.manifest;
  ExpertPolicy& p = s.policy;
  try {
    ArtifactFeatures a = read_artifact_features(r, m);
    s.featurizer = std::move(a.featurizer);
    s.labels = std::move(a.labels);
    s.feature_dim = a.feature_dim;

    r.check(m.at("method").is_string() &&
                (m["method"] == std::string(kBayesPlugin) || m["method"] == std::string(kTwoStage)),
            "method", "expected \"bayes_plugin\" or \"two_stage\"");
    p.method = m["method"].get<std::string>();
    p.lambda = r.number(m.at("lambda"), "lambda", 0, std::numeric_limits<double>::max());
    r.check(m.at("has_surrogate").is_boolean(), "has_surrogate", "expected true or false");
    p.has_surrogate = m["has_surrogate"].get<bool>();
    r.check(m.at("surrogate_features").is_boolean(), "surrogate_features",
            "expected true or false");
    p.surrogate_features = m["surrogate_features"].get<bool>();

    const nlohmann::json& cj = m.at("choices");
    r.check(cj.is_array() && cj.size() >= 2 && cj.size() <= 100000, "choices",
            "expected a list of at least 2 choices");
    const std::size_t k = cj.size();
    const bool plugin = p.method == kBayesPlugin;
    std::set<std::string> names;
    for (std::size_t j = 0; j < k; ++j) {
      const std::string f = fmt::format("choices[{}].", j);
      const nlohmann::json& c = cj[j];
      r.check(c.is_object(), f.substr(0, f.size() - 1), "expected an object");
      r.check(c.at("name").is_string() && !c["name"].get<std::string>().empty(), f + "name",
              "expected a non-empty name");
      p.names.push_back(c["name"].get<std::string>());
      r.check(names.insert(p.names.back()).second, f + "name",
              fmt::format("'{}' appears twice (expected distinct names)", excerpt(p.names.back())));
      ChoiceCost cost;
      cost.alpha = r.number(c.at("alpha"), f + "alpha", 0, std::numeric_limits<double>::max());
      cost.beta = r.number(c.at("beta"), f + "beta", 0, std::numeric_limits<double>::max());
      p.choices.push_back(cost);
      const nlohmann::json& e = c.contains("estimator") ? c["estimator"] : nlohmann::json();
      if (!plugin) {
        r.check(e.is_null(), f + "estimator", "expected null (two_stage has no estimators)");
        continue;
      }
      if (e.is_null()) {
        r.check(c.contains("constant_wrong"), f + "constant_wrong",
                "missing: expected the constant estimate of P(wrong) where estimator is null");
        p.constant_wrong.push_back(r.number(c["constant_wrong"], f + "constant_wrong", 0, 1));
        p.estimators.push_back(nullptr);
      } else {
        p.constant_wrong.push_back(0.0);
        p.estimators.push_back(r.model(e, f + "estimator", 2, [](std::size_t n) {
          return fmt::format("expected a 2-class model (right, wrong), got {} classes", n);
        }));
      }
    }

    const nlohmann::json& sj = m.at("surrogate");
    if (p.has_surrogate) {
      p.surrogate = r.model(sj, "surrogate", s.labels->size(), [&](std::size_t n) {
        return fmt::format("the model predicts {} classes; the manifest has {} labels", n,
                           s.labels->size());
      });
    } else {
      r.check(sj.is_null(), "surrogate", "expected null (has_surrogate is false)");
    }
    const nlohmann::json& rj = m.at("rejector");
    if (plugin) {
      r.check(rj.is_null(), "rejector", "expected null (bayes_plugin has no rejector)");
    } else {
      p.rejector = r.model(rj, "rejector", k, [&](std::size_t n) {
        return fmt::format("expected a {}-class model (one class per choice), got {} classes", k,
                           n);
      });
    }
  } catch (const nlohmann::json::exception& e) {
    fail({mf.string(), 0, ""}, "missing or mistyped field: " + excerpt(e.what()));
  }
  try {
    validate_expert_policy(p);
  } catch (const Error& e) {
    fail({mf.string(), 0, ""}, e.what());
  }
  return s;
}

RoutedFile route_expert_file(const SavedExpertPolicy& saved, const fs::path& input,
                             const RouteOptions& options, const Context& ctx) {
  const Traffic t =
      read_traffic(saved.featurizer.get(), saved.feature_dim, input, options, ctx, false);
  const ExpertPolicy& p = saved.policy;
  RoutedFile result;
  result.rows = t.x.rows();
  if (t.x.rows() == 0) return result;
  const ExpertRouting r = route_experts(p, t.x, ctx);
  std::string& out = result.lines;
  for (std::size_t i = 0; i < t.x.rows(); ++i) {
    const bool answered = r.answer[i] != kNoLabel;
    const nlohmann::json line = {
        {"id", t.traces.ids[i]},
        {"choice", p.names[static_cast<std::size_t>(r.choice[i])]},
        {"label", answered ? nlohmann::json(saved.labels->name(r.answer[i])) : nlohmann::json()}};
    out += line.dump() + "\n";
    result.handled += answered;
  }
  return result;
}

}  // namespace deferbench
