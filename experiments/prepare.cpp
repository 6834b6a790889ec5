#include "experiments/prepare.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/util/error.h"
#include "experiments/traces.h"
#include "models/backend.h"

namespace deferbench {

namespace {

// Reads the traces, builds the label space and splits (stratified by teacher label); returns
// every row as one data set.
Dataset read_and_split(const RunSettings& s, PreparedData& p) {
  const auto t = RunClock::now();
  Traces traces = load_traces(s.dataset, s.data_dir, s.seed);
  DB_CHECK(traces.size() > 0, "dataset '{}': no usable traces", p.dataset_name);
  p.dropped_no_answer = traces.dropped_no_answer;
  p.labels = std::make_shared<const LabelSpace>(label_space_of({&traces}));
  Dataset data = to_dataset(std::move(traces), p.labels);
  p.total_rows = data.size();
  p.load_seconds = seconds_since(t);
  spdlog::info("{}: {} traces, {} classes, {} dropped (no teacher answer)", p.dataset_name,
               data.size(), p.labels->size(), p.dropped_no_answer);
  p.splits = stratified_split(data.teacher, s.split, s.seed);
  p.train = data.subset(p.splits.train);
  p.val = data.subset(p.splits.val);
  p.cal = data.subset(p.splits.cal);
  p.test = data.subset(p.splits.test);
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
      d->features = p.featurizer->transform(d->texts, ctx);
    p.feature_source = fmt::format("text-lsa-{}", p.featurizer->dim());
  }
  p.featurize_seconds = seconds_since(t);
}

}  // namespace

PreparedData prepare_data(const RunSettings& s, const Context& ctx) {
  PreparedData p;
  p.dataset_name = s.dataset["name"] ? s.dataset["name"].as<std::string>() : std::string("?");
  const Dataset data = read_and_split(s, p);
  featurize(s, ctx, data, p);
  // Only when a kNN feature or the OOD guard will search it (the index copies train's features);
  // without one, fit_cascade builds its own where needed.
  if (s.pipeline.acceptor.knn > 0 || s.pipeline.ood_k > 0)
    p.train_index = std::make_shared<const NeighbourIndex>(p.train.features, p.train.teacher);
  return p;
}

}  // namespace deferbench
