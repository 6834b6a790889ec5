#include "core/routing/families.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include <spdlog/spdlog.h>

#include "core/config/fields.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

// Trains the stage's acceptor on `rows` (which did not train its surrogate).
void fit_acceptor(Stage& stage, const Dataset& rows, const FamilyOptions& options,
                  const ModelFactory& factory, const Context& ctx) {
  auto acceptor =
      std::make_shared<Acceptor>(factory(options.acceptor.model, "pipeline.acceptor.model"));
  if (rows.size() == 0) {
    acceptor->fit(Matrix(1, 4), {0}, ctx);  // nothing to learn from: never accept
    stage.acceptor = acceptor;
    return;
  }
  const Matrix proba = stage.surrogate->predict_proba(rows.features, ctx);
  const std::vector<LabelId> pred = argmax_rows(proba);
  std::vector<float> knn;
  if (stage.neighbours && stage.knn > 0)
    knn = stage.neighbours->agreement(rows.features, pred, stage.knn, ctx.threads);
  const Matrix features =
      acceptor_features(proba, knn, stage.use_embedding ? rows.features.view() : MatrixView());
  std::vector<std::uint8_t> agrees(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) agrees[i] = pred[i] == rows.teacher[i];
  acceptor->fit(features, agrees, ctx);
  stage.acceptor = acceptor;
}

Stage fit_stage(const YAML::Node& spec, const std::string& path, const Dataset& train,
                const Dataset& acceptor_rows, const FamilyOptions& options,
                const ModelFactory& factory, const Context& ctx,
                std::shared_ptr<const NeighbourIndex> index) {
  Stage s;
  std::shared_ptr<Classifier> surrogate = factory(spec, path);
  surrogate->fit(train, &acceptor_rows, ctx);
  s.surrogate = surrogate;
  s.knn = options.acceptor.knn;
  s.use_embedding = options.acceptor.use_embedding;
  if (s.knn > 0)
    s.neighbours =
        index ? std::move(index) : std::make_shared<NeighbourIndex>(train.features, train.teacher);
  fit_acceptor(s, acceptor_rows, options, factory, ctx);
  return s;
}

// The share q of `rows` (indices into a split) with the lowest scores (ties: lower index).
std::vector<std::size_t> lowest_share(const std::vector<std::size_t>& rows,
                                      const std::vector<float>& score, double q) {
  std::vector<std::size_t> order(rows.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  const std::size_t keep = static_cast<std::size_t>(q * static_cast<double>(rows.size()));
  std::vector<std::size_t> out;
  for (std::size_t k = 0; k < keep; ++k) out.push_back(rows[order[k]]);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

FamilyOptions FamilyOptions::from_yaml(const YAML::Node& node, const std::string& path) {
  FamilyOptions o;
  FieldReader r(node, path);
  o.families = r.get_string_list("families", o.families);
  DB_CHECK(!o.families.empty(), "config: '{}.families': expected at least one of {}", path,
           routing_family_names());
  for (const std::string& f : o.families) {
    bool known = false;
    for (const RoutingFamily* family : routing_families()) known = known || family->name() == f;
    DB_CHECK(known, "config: '{}.families': unknown family '{}'; valid families: {}", path, f,
             routing_family_names());
  }
  YAML::Node zoo = r.has("zoo") ? node["zoo"] : YAML::Node();
  r.allow("zoo");
  if (zoo && !zoo.IsNull()) {
    DB_CHECK(zoo.IsSequence(), "config: '{}.zoo': expected a list of model names or mappings",
             path);
    for (std::size_t i = 0; i < zoo.size(); ++i) {
      if (zoo[i].IsScalar()) {
        YAML::Node spec;
        spec["name"] = zoo[i].Scalar();
        o.zoo.push_back(spec);
      } else {
        DB_CHECK(zoo[i].IsMap() && zoo[i]["name"],
                 "config: '{}.zoo[{}]': expected a model name or a mapping with a name", path, i);
        o.zoo.push_back(YAML::Clone(zoo[i]));
      }
    }
  }
  r.get_choice("selection", "val", {"val"});
  o.teacher_cost = r.get_double("teacher_cost", o.teacher_cost, 0.0, 1e12);
  o.surrogate_cost = r.get_double("surrogate_cost", o.surrogate_cost, 0.0, 1e12);
  o.acceptor = AcceptorOptions::from_yaml(r.get_map("acceptor"), path + ".acceptor");
  FieldReader rsb(r.get_map("rsb"), path + ".rsb");
  o.rsb_stages = static_cast<int>(rsb.get_int("stages", o.rsb_stages, 2, 16));
  YAML::Node model = rsb.get_map("model");
  if (model.size() > 0) o.rsb_model = YAML::Clone(model);
  o.residual_quantile = rsb.get_double("residual_quantile", o.residual_quantile, 0.01, 1.0);
  o.rsb_min_rows = static_cast<std::size_t>(
      rsb.get_int("min_rows", static_cast<std::int64_t>(o.rsb_min_rows), 1, 1'000'000'000));
  o.disjoint_cal_folds =
      rsb.get_choice("cal_folds", "shared", {"shared", "disjoint"}) == "disjoint";
  rsb.finish();
  FieldReader ood(r.get_map("ood"), path + ".ood");
  o.ood_k = static_cast<int>(ood.get_int("k", o.ood_k, 0, 1000));
  o.ood_quantile = ood.get_double("quantile", o.ood_quantile, 0.5, 1.0);
  ood.finish();
  r.finish();
  return o;
}

std::vector<FittedStage> fit_cascade(const YAML::Node& spec, int stages, const Dataset& train,
                                     const Dataset& val, const Dataset& cal,
                                     const FamilyOptions& options, const ModelFactory& factory,
                                     const Context& ctx,
                                     std::shared_ptr<const NeighbourIndex> train_index) {
  if (train_index) DB_ASSERT(train_index->train().rows() == train.size());
  std::vector<FittedStage> out;
  std::vector<std::size_t> train_rows = all_rows(train.size()), val_rows = all_rows(val.size());
  for (int k = 0; k < stages; ++k) {
    FittedStage f;
    if (k == 0) {
      f.stage = fit_stage(spec, "model", train, val, options, factory, ctx, train_index);
      if (options.ood_k > 0) {
        // The guard: val rows are in distribution by construction; the threshold is the chosen
        // quantile of their distance to the k-th nearest training row.
        if (!f.stage.neighbours)
          f.stage.neighbours =
              train_index ? train_index
                          : std::make_shared<NeighbourIndex>(train.features, train.teacher);
        std::vector<float> d =
            f.stage.neighbours->kth_distance(val.features, options.ood_k, ctx.threads);
        std::sort(d.begin(), d.end());
        if (!d.empty()) {
          const auto at = static_cast<std::size_t>(
              std::ceil(options.ood_quantile * static_cast<double>(d.size())) - 1);
          f.stage.ood_k = options.ood_k;
          f.stage.ood_max_distance = d[std::min(at, d.size() - 1)];
        }
      }
    } else {
      // The residual rows: the share of the previous stage's rows it is least sure of.
      const Stage& prev = out.back().stage;
      const Dataset prev_train = train.subset(train_rows);
      const StageOutput on_train = evaluate_stage(prev, prev_train.features, ctx);
      train_rows = lowest_share(train_rows, on_train.score, options.residual_quantile);
      val_rows =
          lowest_share(val_rows, subset(out.back().val, val_rows).score, options.residual_quantile);
      const Dataset sub_train = train.subset(train_rows);
      std::set<LabelId> classes(sub_train.teacher.begin(), sub_train.teacher.end());
      if (sub_train.size() < options.rsb_min_rows || classes.size() < 2) {
        spdlog::info(
            "rsb: stage {} has {} residual training rows ({} classes): the cascade "
            "stops at {} stages",
            k + 1, sub_train.size(), classes.size(), k);
        break;
      }
      const bool own_model = options.rsb_model.IsMap() && options.rsb_model.size() > 0;
      const YAML::Node& stage_spec = own_model ? options.rsb_model : spec;
      f.stage = fit_stage(stage_spec, "pipeline.rsb.model", sub_train, val.subset(val_rows),
                          options, factory, ctx.derive(static_cast<std::uint64_t>(k)), nullptr);
    }
    f.train_rows = train_rows;
    f.val_rows = val_rows;
    f.val = evaluate_stage(f.stage, val.features, ctx);
    f.cal = evaluate_stage(f.stage, cal.features, ctx);
    out.push_back(std::move(f));
  }
  return out;
}

int stages_to_fit(const FamilyOptions& options) {
  int stages = 1;
  for (const std::string& f : options.families)
    stages = std::max(stages, routing_family(f).stages(options));
  return stages;
}

BuiltPolicy build_policy(const std::string& family, const std::vector<FittedStage>& fitted,
                         const Dataset& val, const Dataset& cal, double target,
                         const CalibrationSettings& settings, const FamilyOptions& options,
                         CalibrateOn on, std::uint64_t seed) {
  DB_ASSERT(!fitted.empty());
  return routing_family(family).build(
      FamilyInputs{fitted, val, cal, target, settings, options, on, seed});
}

}  // namespace deferbench
