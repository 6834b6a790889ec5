#include "experiments/prepare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/config/fields.h"
#include "core/data/splits.h"
#include "core/stats/binomial.h"
#include "core/util/context.h"
#include "core/util/error.h"
#include "experiments/traces.h"
#include "models/backend.h"

namespace deferbench {

namespace {

// The fewest rows a split may have: below it a model cannot be trained, a candidate selected or
// a test split measured (the numbers would be noise presented as results).
constexpr std::size_t kMinSplitRows = 10;

double fraction_of(const SplitFractions& f, std::string_view split) {
  return split == "train" ? f.train : split == "val" ? f.val : split == "cal" ? f.cal : f.test;
}

// Stops a run whose splits are too small to train, select, calibrate or measure on, or whose
// teacher gives one class only (nothing to defer), before any model is fitted. `calibrates`:
// whether the calibration split will certify targets (not when only featurizing).
void check_split_sizes(const RunSettings& s, const PreparedData& p, bool calibrates) {
  const std::string& name = p.dataset_name;
  // Whether calibration certifies targets (its split is then checked against what that needs).
  const bool certifies = calibrates && s.calibration.mode == "guaranteed" &&
                         s.calibration.window == 0 && !s.calibration.window_test;
  const std::pair<const char*, std::size_t> splits[] = {{"train", p.train.size()},
                                                        {"val", p.val.size()},
                                                        {"cal", p.cal.size()},
                                                        {"test", p.test.size()}};
  for (const auto& [split, rows] : splits) {
    const bool cal_checked_below = certifies && std::string_view(split) == "cal";
    const bool pooled = p.cross_fit_folds > 0 && std::string_view(split) == "val";
    DB_CHECK(
        p.external_test_rows == 0 || std::string_view(split) != "test" || rows >= kMinSplitRows,
        "dataset '{}': the test split has {} rows from outside the subsample "
        "(dataset.subsample_test); expected at least {} (a larger dataset.subsample_test "
        "or a smaller dataset.subsample)",
        name, rows, kMinSplitRows);
    DB_CHECK(cal_checked_below || pooled || rows >= kMinSplitRows,
             "dataset '{}': split.{} has {} rows of {} (split.{} = {}); expected at least {} "
             "(more traces or a larger split.{})",
             name, split, rows, p.total_rows, split, fraction_of(s.split, split), kMinSplitRows,
             split);
  }
  std::vector<bool> seen(p.labels->size(), false);
  std::size_t classes = 0;
  for (LabelId t : p.train.teacher)
    if (!seen.at(static_cast<std::size_t>(t))) seen[static_cast<std::size_t>(t)] = true, ++classes;
  DB_CHECK(classes >= 2 || p.train.size() == 0,
           "dataset '{}': the teacher gives one class only ('{}') on the {} training rows; "
           "expected at least 2 classes (nothing to learn to defer)",
           name, excerpt(p.labels->name(p.train.teacher.front())), p.train.size());
  if (!certifies) return;
  for (double target : s.calibration.targets) {
    DB_CHECK(
        target < 1.0,
        "calibration.target: 1 cannot be certified in guaranteed mode (a confidence bound "
        "on agreement stays below 1); expected a target below 1, or calibration.mode=empirical");
    // The first threshold tested needs min_accepted rows, and even with every accepted row
    // agreeing a test passes only from min_passable_rows (the least n with target^n ≤ δ).
    const GuaranteedOptions& g = s.calibration.guaranteed;
    const std::uint64_t passable = min_passable_rows(target, g.delta);
    const std::uint64_t need = std::max<std::uint64_t>(g.min_accepted, passable);
    DB_CHECK(
        p.cal.size() >= need,
        "dataset '{}': split.cal has {} rows{}; certifying target {} at delta {} needs at "
        "least {} (min_accepted {}, all-agreeing rows for the test to pass {}); use more "
        "traces, a larger split.cal, a lower target or a larger delta",
        name, p.cal.size(),
        p.val_rows_calibrating > 0
            ? fmt::format(" ({} of them the val split's: cross-fitting)", p.val_rows_calibrating)
            : std::string(),
        target, g.delta, need, g.min_accepted, passable);
  }
}

// Reads the traces, builds the label space and splits (stratified by teacher label); returns
// every row as one data set.
Dataset read_and_split(const RunSettings& s, PreparedData& p, bool calibrates) {
  const auto t = RunClock::now();
  Traces traces = load_traces(s.dataset, s.data_dir, s.seed);
  DB_CHECK(traces.size() > 0, "dataset '{}': no usable traces", p.dataset_name);
  p.dropped_no_answer = traces.dropped_no_answer;
  p.labels = std::make_shared<const LabelSpace>(label_space_of({&traces}));
  Dataset data = to_dataset(std::move(traces), p.labels);
  // dataset.subsample: N rows of the traces, stratified by teacher label (small trace sets
  // studied on large ones); dataset.subsample_seed picks them (default: the run's seed).
  FieldReader sub(s.dataset, "dataset");
  std::size_t external_test = 0;  // rows outside the subsample that form the test split
  const std::string own_test = sub.get_choice("subsample_own_test", "cal", {"cal", "unused"});
  const auto rows = static_cast<std::size_t>(sub.get_int("subsample", 0, 0, INT64_MAX));
  // dataset.subsample_test: up to M of the other rows (stratified, seeded) are the test split,
  // fresh traffic measured apart from the trace set; the subsample's own test share calibrates.
  const auto test_rows = static_cast<std::size_t>(sub.get_int("subsample_test", 0, 0, INT64_MAX));
  DB_CHECK(test_rows == 0 || rows > 0,
           "config: 'dataset.subsample_test': {} rows outside the subsample asked, but "
           "dataset.subsample is 0 (every row); expected a subsample (dataset.subsample > 0) or "
           "subsample_test: 0",
           test_rows);
  if (rows > 0) {
    const auto seed = static_cast<std::uint64_t>(
        sub.get_int("subsample_seed", static_cast<std::int64_t>(s.seed), 0, INT64_MAX));
    DB_CHECK(rows <= data.size(),
             "config: 'dataset.subsample': {} rows asked of dataset '{}', which has {}; expected "
             "at most {} (or 0: every row)",
             rows, p.dataset_name, data.size(), data.size());
    std::vector<std::size_t> keep =
        stratified_subsample(data.teacher, rows, mix_seed(seed, 0x5ab5a3b1e));
    if (test_rows > 0) {
      std::vector<std::size_t> rest;
      std::vector<LabelId> rest_teacher;
      for (std::size_t i = 0, k = 0; i < data.size(); ++i) {
        if (k < keep.size() && keep[k] == i) {
          ++k;
          continue;
        }
        rest.push_back(i);
        rest_teacher.push_back(data.teacher[i]);
      }
      DB_CHECK(!rest.empty(),
               "config: 'dataset.subsample_test': dataset '{}' has no rows outside the {}-row "
               "subsample; expected a subsample smaller than its {} rows",
               p.dataset_name, rows, data.size());
      external_test = std::min(test_rows, rest.size());
      for (std::size_t r :
           stratified_subsample(rest_teacher, external_test, mix_seed(seed, 0x7e57a11)))
        keep.push_back(rest[r]);
    }
    data = data.subset(keep);
    spdlog::info("{}: subsampled to {} rows (stratified, seed {}){}", p.dataset_name, rows, seed,
                 external_test > 0 ? fmt::format(", {} other rows the test split", external_test)
                                   : std::string());
  }
  p.total_rows = data.size();
  p.load_seconds = seconds_since(t);
  spdlog::info("{}: {} traces, {} classes, {} dropped (no teacher answer)", p.dataset_name,
               data.size(), p.labels->size(), p.dropped_no_answer);
  if (external_test == 0) {
    p.splits = stratified_split(data.teacher, s.split, s.seed);
  } else {
    const std::size_t n = data.size() - external_test;
    p.splits = stratified_split(
        std::vector<LabelId>(data.teacher.begin(), data.teacher.begin() + n), s.split, s.seed);
    // The subsample's own test share calibrates (own_test: cal; measured on banking77_llm,
    // n = 1,000: certified 0.363 at 0.85 against 0.302 when it trains and 0.214 unused), or is
    // left unused (own_test: unused: the trace set as today's split uses it).
    if (own_test == "cal") {
      p.splits.cal.insert(p.splits.cal.end(), p.splits.test.begin(), p.splits.test.end());
      std::sort(p.splits.cal.begin(), p.splits.cal.end());
    }
    p.splits.test.clear();
    for (std::size_t i = n; i < data.size(); ++i) p.splits.test.push_back(i);
    p.external_test_rows = external_test;
    // The rows of a run: those of its splits (not the subsample's unused test share).
    p.total_rows =
        p.splits.train.size() + p.splits.val.size() + p.splits.cal.size() + p.splits.test.size();
  }
  const FamilyOptions& pipe = s.pipeline;
  const std::size_t pool_rows = p.splits.train.size() + p.splits.val.size();
  // Cross-fitting is part of fitting: `featurize` (calibrates = false) keeps the configured splits.
  if (calibrates && pipe.cross_fit_folds >= 2 &&
      (pipe.cross_fit_max_rows == 0 || pool_rows <= pipe.cross_fit_max_rows)) {
    p.cross_fit_folds = pipe.cross_fit_folds;
    // The val split's rows join the calibration split (or the pool): out-of-fold outputs do
    // its work. The splits record where each row went.
    const bool to_cal = pipe.cross_fit_val_rows == "cal";
    const std::size_t moved = p.splits.val.size();
    if (to_cal) p.val_rows_calibrating = moved;
    std::vector<std::size_t>& to = to_cal ? p.splits.cal : p.splits.train;
    to.insert(to.end(), p.splits.val.begin(), p.splits.val.end());
    std::sort(to.begin(), to.end());
    p.splits.val.clear();
    p.train = data.subset(p.splits.train);  // p.val: a copy, made once featurized
    spdlog::info("{}: cross-fitting ({} folds) on {} rows; the val split's {} rows {}",
                 p.dataset_name, p.cross_fit_folds, p.splits.train.size(), moved,
                 to_cal ? "calibrate" : "train");
  } else {
    p.train = data.subset(p.splits.train);
    p.val = data.subset(p.splits.val);
  }
  p.cal = data.subset(p.splits.cal);
  p.test = data.subset(p.splits.test);
  check_split_sizes(s, p, calibrates);
  return data;
}

// Features: the traces' embeddings, or the text featurizer fitted on train only.
void featurize(const RunSettings& s, const Context& ctx, const Dataset& data, PreparedData& p) {
  const auto t = RunClock::now();
  const bool has_embeddings = !data.features.empty();
  p.feature_source = "embeddings";
  if (s.feature_kind == "embeddings")
    DB_CHECK(has_embeddings, "features.kind=embeddings, but dataset '{}' has no embeddings",
             p.dataset_name);
  if (s.feature_kind == "text" || (s.feature_kind == "auto" && !has_embeddings)) {
    DB_CHECK(!data.texts.empty(), "dataset '{}' has neither embeddings nor texts", p.dataset_name);
    p.featurizer = std::make_shared<TextFeaturizer>(s.text);
    p.featurizer->fit(p.train.texts, *make_dense_solver(ctx), ctx);
    for (Dataset* d : {&p.train, &p.val, &p.cal, &p.test})
      if (d != &p.val || p.cross_fit_folds == 0)
        d->features = p.featurizer->transform(d->texts, ctx);
    p.feature_source = fmt::format("text-lsa-{}", p.featurizer->dim());
  }
  if (p.cross_fit_folds > 0) p.val = p.train;
  p.featurize_seconds = seconds_since(t);
}

}  // namespace

PreparedData prepare_data(const RunSettings& s, const Context& ctx, bool calibrates) {
  PreparedData p;
  p.dataset_name = s.dataset["name"] ? s.dataset["name"].as<std::string>() : std::string("?");
  const Dataset data = read_and_split(s, p, calibrates);
  featurize(s, ctx, data, p);
  // Only when a kNN feature or the OOD guard will search it (the index copies train's features);
  // without one, fit_cascade builds its own where needed.
  // Cross-fitting builds one index per fold instead.
  if ((s.pipeline.acceptor.knn > 0 || s.pipeline.ood_k > 0) && p.cross_fit_folds == 0)
    p.train_index = std::make_shared<const NeighbourIndex>(p.train.features, p.train.teacher);
  return p;
}

}  // namespace deferbench
