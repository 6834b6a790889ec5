// The first step of a run: the traces read, split (stratified by teacher label) and featurized
// (the text featurizer fitted on train only).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/data/dataset.h"
#include "core/data/splits.h"
#include "core/features/text_featurizer.h"
#include "core/routing/acceptor.h"
#include "core/util/context.h"
#include "experiments/run_settings.h"

namespace deferbench {

// The data of a run, split and featurized (text featurizer fitted on train only).
struct PreparedData {
  std::string dataset_name;
  std::shared_ptr<const LabelSpace> labels;
  std::size_t total_rows = 0;
  std::size_t dropped_no_answer = 0;
  Splits splits;                               // row indices into the traces as read
  Dataset train, val, cal, test;               // features filled
  std::string feature_source;                  // "embeddings" or "text-lsa-<dim>"
  std::shared_ptr<TextFeaturizer> featurizer;  // fitted on train; null when embeddings are used
  // kNN index over train, shared by every surrogate's stage 1 (its neighbour searches are
  // memoized: one search per split for the whole zoo). Null when the pipeline uses neither the
  // kNN feature nor the OOD guard.
  std::shared_ptr<const NeighbourIndex> train_index;
  double load_seconds = 0, featurize_seconds = 0;
  // Cross-fitting (pipeline.cross_fit, fit_cascade_cross): the number of folds when active, else
  // 0. When active, `train` is the pool the folds split (the training split, plus the val split's
  // rows with cross_fit.val_rows = train; by default they join `cal`), rows in the order read, and
  // `val` a copy of it: candidates are selected on the pool's out-of-fold outputs.
  int cross_fit_folds = 0;
  std::size_t val_rows_calibrating = 0;  // rows of the val split moved to cal by cross-fitting
  // dataset.subsample_test: the test split's rows, drawn from outside the subsample (0: none).
  std::size_t external_test_rows = 0;
};

// Stops with an error naming the counts when a split is too small, or (when `calibrates`) when
// the calibration split cannot certify a target in guaranteed mode.
PreparedData prepare_data(const RunSettings& settings, const Context& ctx, bool calibrates = true);

}  // namespace deferbench
