#include "core/routing/families.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include <spdlog/spdlog.h>

#include "core/config/fields.h"
#include "core/data/splits.h"
#include "core/model/fold_average.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace deferbench {
namespace {

// The acceptor's inputs on rows x from a stage's surrogate (and its kNN index); `pred` gets the
// surrogate's predictions.
Matrix stage_acceptor_features(const Stage& stage, MatrixView x, std::vector<LabelId>& pred,
                               const Context& ctx) {
  const Matrix proba = stage.surrogate->predict_proba(x, ctx);
  pred = argmax_rows(proba);
  std::vector<float> knn;
  if (stage.neighbours && stage.knn > 0)
    knn = stage.neighbours->agreement(x, pred, stage.knn, ctx.threads);
  return acceptor_features(proba, knn, stage.use_embedding ? x : MatrixView());
}

std::vector<std::uint8_t> agreements(const std::vector<LabelId>& pred,
                                     const std::vector<LabelId>& teacher) {
  std::vector<std::uint8_t> agrees(pred.size());
  for (std::size_t i = 0; i < pred.size(); ++i) agrees[i] = pred[i] == teacher[i];
  return agrees;
}

std::shared_ptr<Acceptor> new_acceptor(const FamilyOptions& options, const ModelFactory& factory) {
  return std::make_shared<Acceptor>(factory(options.acceptor.model, "pipeline.acceptor.model"));
}

// Trains the stage's acceptor on `rows` (which did not train its surrogate).
void fit_acceptor(Stage& stage, const Dataset& rows, const FamilyOptions& options,
                  const ModelFactory& factory, const Context& ctx) {
  auto acceptor = new_acceptor(options, factory);
  if (rows.size() == 0) {
    acceptor->fit(Matrix(1, 4), {0}, ctx);  // nothing to learn from: never accept
    stage.acceptor = acceptor;
    return;
  }
  std::vector<LabelId> pred;
  const Matrix features = stage_acceptor_features(stage, rows.features, pred, ctx);
  acceptor->fit(features, agreements(pred, rows.teacher), ctx);
  stage.acceptor = acceptor;
}

// The OOD guard's threshold: the `quantile` of in-distribution distances (NaN: none).
float ood_threshold(std::vector<float> d, double quantile) {
  if (d.empty()) return std::numeric_limits<float>::quiet_NaN();
  std::sort(d.begin(), d.end());
  const auto at = static_cast<std::size_t>(std::ceil(quantile * static_cast<double>(d.size())) - 1);
  return d[std::min(at, d.size() - 1)];
}

Stage fit_stage(const YAML::Node& spec, const std::string& path, const Dataset& train,
                const Dataset& acceptor_rows, const FamilyOptions& options,
                const ModelFactory& factory, const Context& ctx,
                std::shared_ptr<const NeighbourIndex> index, const Classifier* warm_start = nullptr,
                bool* warm_started = nullptr) {
  Stage s;
  std::shared_ptr<Classifier> surrogate = factory(spec, path);
  const bool warm = warm_start && surrogate->warm_start_from(*warm_start);
  surrogate->fit(train, &acceptor_rows, ctx);
  // Accepted, and used: a training set that does not suit the previous model gets a cold fit.
  if (warm_started) *warm_started = warm && surrogate->warm_started();
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

// A stage fitted by cross-fitting on `rows`, and its out-of-fold outputs there.
struct CrossFitted {
  Stage stage;
  StageOutput oof;  // per row of `rows`: the fold model's prediction, the fold acceptor's score
};

// K fold surrogates (each on the other folds) give every row an out-of-fold prediction and
// acceptor features; the acceptor is trained on all of them; K fold acceptors give every row an
// out-of-fold acceptor score (what the grid, the start and the selection read); the deployed
// surrogate is the fold surrogates' average. With `guard`, the OOD threshold is the quantile of
// the out-of-fold k-th neighbour distances. Folds from `fold_seed`, models from ctx.
CrossFitted fit_stage_cross(const YAML::Node& spec, const std::string& path, const Dataset& rows,
                            int folds, std::uint64_t fold_seed, const FamilyOptions& options,
                            const ModelFactory& factory, const Context& ctx, bool guard) {
  const std::size_t n = rows.size();
  const std::vector<int> fold =
      stratified_folds(rows.teacher, folds, mix_seed(fold_seed, 0xc055f17));
  std::vector<std::vector<std::size_t>> in_fold(static_cast<std::size_t>(folds)),
      out_fold(static_cast<std::size_t>(folds));
  for (std::size_t i = 0; i < n; ++i)
    for (int k = 0; k < folds; ++k) (fold[i] == k ? in_fold : out_fold)[k].push_back(i);

  CrossFitted out;
  out.oof.pred.assign(n, kNoLabel);
  out.oof.score.assign(n, 0.0f);
  Matrix features;
  std::vector<float> distance(guard ? n : 0);
  std::vector<std::shared_ptr<const Classifier>> members;
  std::shared_ptr<const NeighbourIndex> first_index;
  for (int k = 0; k < folds; ++k) {
    const auto& held = in_fold[static_cast<std::size_t>(k)];
    if (held.empty()) continue;
    const Dataset fit_rows = rows.subset(out_fold[static_cast<std::size_t>(k)]);
    const Dataset held_rows = rows.subset(held);
    Stage s;
    std::shared_ptr<Classifier> surrogate = factory(spec, path);
    surrogate->fit(fit_rows, nullptr, ctx.derive(static_cast<std::uint64_t>(k) + 1));
    s.surrogate = surrogate;
    members.push_back(surrogate);
    s.knn = options.cross_fit_knn;
    s.use_embedding = options.acceptor.use_embedding;
    if (s.knn > 0 || guard)
      s.neighbours = std::make_shared<NeighbourIndex>(fit_rows.features, fit_rows.teacher);
    if (!first_index) first_index = s.neighbours;
    std::vector<LabelId> pred;
    const Matrix f = stage_acceptor_features(s, held_rows.features, pred, ctx);
    if (features.empty()) features = Matrix(n, f.cols());
    for (std::size_t j = 0; j < held.size(); ++j) {
      out.oof.pred[held[j]] = pred[j];
      std::copy(f.row(j), f.row(j) + f.cols(), features.row(held[j]));
    }
    if (guard) {
      const std::vector<float> d =
          s.neighbours->kth_distance(held_rows.features, options.ood_k, ctx.threads);
      for (std::size_t j = 0; j < held.size(); ++j) distance[held[j]] = d[j];
    }
  }
  const std::vector<std::uint8_t> agrees = agreements(out.oof.pred, rows.teacher);
  for (int k = 0; k < folds; ++k) {
    const auto& held = in_fold[static_cast<std::size_t>(k)];
    const auto& rest = out_fold[static_cast<std::size_t>(k)];
    if (held.empty()) continue;
    auto acceptor = new_acceptor(options, factory);
    if (rest.empty())
      acceptor->fit(Matrix(1, features.cols()), {0}, ctx);
    else
      acceptor->fit(gather_rows(features, rest), pick(agrees, rest), ctx);
    const std::vector<float> sc = acceptor->score(gather_rows(features, held), ctx);
    for (std::size_t j = 0; j < held.size(); ++j) out.oof.score[held[j]] = sc[j];
  }

  Stage& s = out.stage;
  s.surrogate = std::make_shared<FoldAverage>(std::move(members));
  s.knn = options.cross_fit_knn;
  s.use_embedding = options.acceptor.use_embedding;
  // The kNN feature and the guard search fold 1's index: the acceptor learnt them from indexes
  // of (K − 1)/K of the rows, and a k-th neighbour in the whole pool would be nearer (a denser
  // index: higher kNN agreement, shorter distances than the acceptor and the guard expect).
  s.neighbours = std::move(first_index);
  auto acceptor = new_acceptor(options, factory);
  acceptor->fit(features, agrees, ctx);
  s.acceptor = acceptor;
  if (guard) {
    const float limit = ood_threshold(distance, options.ood_quantile);
    s.ood_k = options.ood_k;
    s.ood_max_distance = limit;
    for (std::size_t i = 0; i < n; ++i)
      if (distance[i] > limit) out.oof.score[i] = -std::numeric_limits<float>::infinity();
  }
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
  FieldReader cross(r.get_map("cross_fit"), path + ".cross_fit");
  o.cross_fit_folds = static_cast<int>(cross.get_int("folds", o.cross_fit_folds, 0, 100));
  DB_CHECK(o.cross_fit_folds != 1,
           "config: '{}.cross_fit.folds': 1 fold cannot cross-fit; expected 0 (off) or at least 2",
           path);
  o.cross_fit_max_rows = static_cast<std::size_t>(cross.get_int(
      "max_rows", static_cast<std::int64_t>(o.cross_fit_max_rows), 0, 1'000'000'000'000));
  o.cross_fit_val_rows = cross.get_choice("val_rows", o.cross_fit_val_rows, {"cal", "train"});
  o.cross_fit_knn = static_cast<int>(cross.get_int("knn", o.cross_fit_knn, 0, 1000));
  cross.finish();
  r.finish();
  return o;
}

std::vector<FittedStage> fit_cascade(const YAML::Node& spec, int stages, const Dataset& train,
                                     const Dataset& val, const Dataset& cal,
                                     const FamilyOptions& options, const ModelFactory& factory,
                                     const Context& ctx,
                                     std::shared_ptr<const NeighbourIndex> train_index,
                                     const Classifier* warm_start) {
  if (train_index) DB_ASSERT(train_index->train().rows() == train.size());
  std::vector<FittedStage> out;
  std::vector<std::size_t> train_rows = all_rows(train.size()), val_rows = all_rows(val.size());
  for (int k = 0; k < stages; ++k) {
    FittedStage f;
    if (k == 0) {
      f.stage = fit_stage(spec, "model", train, val, options, factory, ctx, train_index, warm_start,
                          &f.warm_started);
      if (options.ood_k > 0) {
        // The guard: val rows are in distribution by construction; the threshold is the chosen
        // quantile of their distance to the k-th nearest training row.
        if (!f.stage.neighbours)
          f.stage.neighbours =
              train_index ? train_index
                          : std::make_shared<NeighbourIndex>(train.features, train.teacher);
        const float limit = ood_threshold(
            f.stage.neighbours->kth_distance(val.features, options.ood_k, ctx.threads),
            options.ood_quantile);
        if (!std::isnan(limit)) {
          f.stage.ood_k = options.ood_k;
          f.stage.ood_max_distance = limit;
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

std::vector<FittedStage> fit_cascade_cross(const YAML::Node& spec, int stages, const Dataset& pool,
                                           const Dataset& cal, int folds,
                                           const FamilyOptions& options,
                                           const ModelFactory& factory, const Context& ctx,
                                           std::uint64_t fold_seed) {
  DB_CHECK(folds >= 2, "pipeline.cross_fit.folds: {} folds; expected at least 2", folds);
  std::vector<FittedStage> out;
  std::vector<std::size_t> rows = all_rows(pool.size());
  for (int k = 0; k < stages; ++k) {
    FittedStage f;
    if (k == 0) {
      CrossFitted c = fit_stage_cross(spec, "model", pool, folds, fold_seed, options, factory, ctx,
                                      options.ood_k > 0);
      f.stage = std::move(c.stage);
      f.val = std::move(c.oof);
    } else {
      // The residual rows: the share of the previous stage's rows with the lowest out-of-fold
      // scores (unlike the in-sample ones of fit_cascade's training rows), out of the rows the
      // guard keeps (a row it rejects never reaches a later stage).
      const FittedStage& prev = out.back();
      std::vector<std::size_t> reaching;
      for (std::size_t r : rows)
        if (!(std::isinf(prev.val.score[r]) && prev.val.score[r] < 0)) reaching.push_back(r);
      rows = lowest_share(reaching, subset(prev.val, reaching).score, options.residual_quantile);
      const Dataset residual = pool.subset(rows);
      std::set<LabelId> classes(residual.teacher.begin(), residual.teacher.end());
      if (residual.size() < options.rsb_min_rows || classes.size() < 2) {
        spdlog::info(
            "rsb: stage {} has {} residual rows ({} classes): the cascade stops at {} stages",
            k + 1, residual.size(), classes.size(), k);
        break;
      }
      const bool own_model = options.rsb_model.IsMap() && options.rsb_model.size() > 0;
      const Context stage_ctx = ctx.derive(static_cast<std::uint64_t>(k));
      CrossFitted c = fit_stage_cross(
          own_model ? options.rsb_model : spec, "pipeline.rsb.model", residual, folds,
          mix_seed(fold_seed, static_cast<std::uint64_t>(k)), options, factory, stage_ctx, false);
      f.stage = std::move(c.stage);
      // Out-of-fold outputs on the residual rows; the other pool rows never trained this
      // stage, so the deployed stage's outputs there are out of sample already.
      f.val = evaluate_stage(f.stage, pool.features, ctx);
      for (std::size_t j = 0; j < rows.size(); ++j) {
        f.val.pred[rows[j]] = c.oof.pred[j];
        f.val.score[rows[j]] = c.oof.score[j];
      }
    }
    f.train_rows = rows;
    f.val_rows = rows;
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
