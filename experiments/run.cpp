#include "experiments/run.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/config/compose.h"
#include "core/config/fields.h"
#include "core/data/csv_reader.h"
#include "core/data/jsonl_reader.h"
#include "core/data/npy.h"
#include "core/data/synthetic.h"
#include "core/metrics/metrics.h"
#include "core/routing/calibration.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "models/device.h"
#include "models/registry.h"
#include "models/torch/linalg.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

fs::path absolute_against(const fs::path& p, const fs::path& base) {
  return (p.is_absolute() ? p : base / p).lexically_normal();
}

SplitFractions read_split(const YAML::Node& node) {
  FieldReader r(node, "split");
  SplitFractions f;
  f.train = r.get_double("train", f.train, 0.0, 1.0);
  f.val = r.get_double("val", f.val, 0.0, 1.0);
  f.cal = r.get_double("cal", f.cal, 0.0, 1.0);
  f.test = r.get_double("test", f.test, 0.0, 1.0);
  r.finish();
  validate(f);
  return f;
}

SyntheticOptions read_synthetic(const YAML::Node& node) {
  FieldReader r(node, "dataset.synthetic");
  SyntheticOptions o;
  o.rows = static_cast<std::size_t>(r.get_int("rows", o.rows, 1, 1'000'000'000));
  o.classes = static_cast<std::size_t>(r.get_int("classes", o.classes, 2, 100'000));
  o.dim = static_cast<std::size_t>(r.get_int("dim", o.dim, 1, 100'000));
  o.separation = r.get_double("separation", o.separation, 0.0, 1e6);
  o.noise = r.get_double("noise", o.noise, 0.0, 1e6);
  o.confusable_pairs =
      static_cast<std::size_t>(r.get_int("confusable_pairs", o.confusable_pairs, 0, 50'000));
  o.pair_distance = r.get_double("pair_distance", o.pair_distance, 0.0, 1e6);
  o.teacher_error_rate = r.get_double("teacher_error_rate", o.teacher_error_rate, 0.0, 1.0);
  o.confusable_error_share =
      r.get_double("confusable_error_share", o.confusable_error_share, 0.0, 1.0);
  r.allow("seed");
  r.finish();
  validate(o);
  return o;
}

CsvColumns read_csv_columns(const YAML::Node& node) {
  FieldReader r(node, "dataset.csv");
  CsvColumns c;
  c.text = r.require_string("text_column");
  c.teacher = r.require_string("teacher_column");
  c.gold = r.get_string("gold_column", "");
  c.id = r.get_string("id_column", "");
  c.time = r.get_string("time_column", "");
  c.slice = r.get_string("slice_column", "");
  c.no_answer = r.get_string_list("no_answer", {});
  std::string delim = r.get_string("delimiter", ",");
  if (delim == "\\t" || delim == "tab") delim = "\t";
  DB_CHECK(delim.size() == 1, "config: 'dataset.csv.delimiter': expected one character, got '{}'",
           delim);
  c.delimiter = delim[0];
  r.finish();
  return c;
}

JsonlOptions read_jsonl_options(const YAML::Node& node, const fs::path& data_dir) {
  FieldReader r(node, "dataset.jsonl");
  JsonlOptions o;
  std::string emb = r.get_string("embeddings", "");
  if (!emb.empty()) o.embeddings = absolute_against(emb, data_dir);
  o.require_embeddings = r.get_bool("require_embeddings", false);
  o.time_key = r.get_string("time_key", o.time_key);
  o.slice_key = r.get_string("slice_key", o.slice_key);
  o.no_answer = r.get_string_list("no_answer", {});
  r.finish();
  return o;
}

std::string timestamp_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &tm);
  return buf;
}

// Points `link` at `target` (a sibling name) atomically.
void update_symlink(const fs::path& link, const fs::path& target) {
  fs::path tmp = link.parent_path() / fmt::format(".{}.tmp-{}", link.filename().string(), getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(target, tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) spdlog::warn("could not update {}: {}", link.string(), ec.message());
}

double nan_to_json(double x) {
  return x;
}

nlohmann::json routing_json(const RoutingMetrics& m) {
  return {{"rows", m.rows},
          {"handled", m.handled},
          {"teacher_calls", m.teacher_calls},
          {"coverage", nan_to_json(m.coverage)},
          {"teacher_agreement", nan_to_json(m.teacher_agreement)},
          {"e2e_accuracy", nan_to_json(m.e2e_accuracy)},
          {"e2e_macro_f1", nan_to_json(m.e2e_macro_f1)},
          {"teacher_accuracy", nan_to_json(m.teacher_accuracy)},
          {"teacher_calls_saved", nan_to_json(m.teacher_calls_saved)}};
}

std::vector<float> top_probability(const Matrix& proba) {
  std::vector<float> out(proba.rows());
  for (std::size_t i = 0; i < proba.rows(); ++i) {
    const float* p = proba.row(i);
    float best = p[0];
    for (std::size_t j = 1; j < proba.cols(); ++j) best = std::max(best, p[j]);
    out[i] = best;
  }
  return out;
}

std::string fmt_metric(double x) {
  return std::isnan(x) ? "n/a" : fmt::format("{:.3f}", x);
}

}  // namespace

RunSettings RunSettings::from_config(const YAML::Node& config, const fs::path& project_root) {
  RunSettings s;
  FieldReader r(config, "");
  s.name = r.get_string("name", "default");
  DB_CHECK(!s.name.empty() && s.name.find('/') == std::string::npos && s.name[0] != '.',
           "config: 'name': expected a folder name (no '/', not starting with '.'), got '{}'",
           s.name);
  s.seed = static_cast<std::uint64_t>(r.get_int("seed", 0, 0, INT64_MAX));
  s.threads = resolve_threads(static_cast<int>(r.get_int("threads", 0, 0, 4096)));
  s.device = parse_device(r.get_choice("device", "auto", {"cpu", "cuda", "auto"}));
  s.data_dir = absolute_against(r.get_string("data_dir", "../shared/data"), project_root);
  s.results_dir = absolute_against(r.get_string("results_dir", "results"), fs::current_path());
  s.split = read_split(r.get_map("split"));

  FieldReader f(r.get_map("features"), "features");
  s.feature_kind = f.get_choice("kind", "auto", {"auto", "embeddings", "text"});
  s.text = TextFeaturizerOptions::from_yaml(f.get_map("text"), "features.text");
  f.finish();

  FieldReader g(r.get_map("routing"), "routing");
  s.target = g.get_double("target", 0.9, 0.0, 1.0);
  g.get_choice("score", "top_probability", {"top_probability"});
  g.get_choice("calibration", "empirical", {"empirical"});
  g.finish();

  s.dataset = r.get_map("dataset");
  s.model = r.get_map("model");
  r.finish();
  return s;
}

Traces load_traces(const YAML::Node& dataset, const fs::path& data_dir, std::uint64_t seed) {
  FieldReader r(dataset, "dataset");
  r.get_string("name", "");
  const std::string format = r.get_choice("format", "", {"synthetic", "csv", "jsonl"});
  if (format == "synthetic") {
    YAML::Node syn = r.get_map("synthetic");
    std::uint64_t data_seed = seed;
    if (syn["seed"])
      data_seed = static_cast<std::uint64_t>(
          FieldReader(syn, "dataset.synthetic").get_int("seed", 0, 0, INT64_MAX));
    SyntheticOptions opts = read_synthetic(syn);
    r.finish();
    return generate_synthetic(opts, data_seed);
  }
  std::vector<std::string> files = r.get_string_list("files", {});
  DB_CHECK(!files.empty(), "config: 'dataset.files': expected at least one {} file", format);
  std::vector<fs::path> paths;
  for (std::size_t i = 0; i < files.size(); ++i) {
    fs::path p = absolute_against(files[i], data_dir);
    DB_CHECK(fs::exists(p), "config: 'dataset.files[{}]': file not found: {} (data_dir is {})", i,
             p.string(), data_dir.string());
    paths.push_back(p);
  }
  Traces all;
  if (format == "csv") {
    CsvColumns columns = read_csv_columns(r.get_map("csv"));
    r.finish();
    for (const fs::path& p : paths) all.append(read_csv_traces(p, columns));
  } else {
    JsonlOptions opts = read_jsonl_options(r.get_map("jsonl"), data_dir);
    r.finish();
    for (const fs::path& p : paths) all.append(read_jsonl_traces(p, opts));
  }
  return all;
}

PreparedData prepare_data(const RunSettings& s, const Context& ctx) {
  PreparedData p;
  p.dataset_name = s.dataset["name"] ? s.dataset["name"].as<std::string>() : std::string("?");

  // 1. Read the traces, build the label space, split (stratified by teacher label).
  auto t = Clock::now();
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

  // 2. Features: the traces' embeddings, or the text featurizer fitted on train only.
  t = Clock::now();
  const bool has_embeddings = !data.features.empty();
  p.feature_source = "embeddings";
  if (s.feature_kind == "embeddings")
    DB_CHECK(has_embeddings, "features.kind=embeddings, but dataset '{}' has no embeddings",
             p.dataset_name);
  if (s.feature_kind == "text" || (s.feature_kind == "auto" && !has_embeddings)) {
    DB_CHECK(!data.texts.empty(), "dataset '{}' has neither embeddings nor texts", p.dataset_name);
    TextFeaturizer featurizer(s.text);
    featurizer.fit(p.train.texts, *make_torch_dense_solver(ctx), ctx);
    for (Dataset* d : {&p.train, &p.val, &p.cal, &p.test})
      d->features = featurizer.transform(d->texts, ctx);
    p.feature_source = fmt::format("text-lsa-{}", featurizer.dim());
  }
  p.featurize_seconds = seconds_since(t);
  return p;
}

fs::path featurize_to(const YAML::Node& config, const RunOptions& options, const fs::path& out) {
  const RunSettings s = RunSettings::from_config(config, options.project_root);
  Context ctx = s.context();
  ctx.device = resolve_device(s.device);
  const fs::path target = out.is_absolute() ? out : fs::current_path() / out;
  DB_CHECK(!fs::exists(target) || fs::is_empty(target),
           "featurize: output folder {} exists and is not empty", target.string());
  PreparedData p = prepare_data(s, ctx);

  // All rows in one matrix, ordered train, val, cal, test; labels.csv says which row is which.
  const std::size_t d = p.train.features.cols();
  Matrix all(p.total_rows, d);
  std::string csv = "row,id,split,teacher_id,gold_id,teacher,gold\n";
  std::size_t row = 0;
  auto quote = [](const std::string& v) {
    std::string q = "\"";
    for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  const std::pair<const char*, const Dataset*> parts[] = {
      {"train", &p.train}, {"val", &p.val}, {"cal", &p.cal}, {"test", &p.test}};
  for (const auto& [split, ds] : parts) {
    for (std::size_t i = 0; i < ds->size(); ++i, ++row) {
      std::copy_n(ds->features.row(i), d, all.row(row));
      const LabelId gold = ds->has_gold() ? ds->gold[i] : kNoLabel;
      csv += fmt::format("{},{},{},{},{},{},{}\n", row, quote(ds->ids[i]), split, ds->teacher[i],
                         gold, quote(p.labels->name(ds->teacher[i])),
                         gold == kNoLabel ? "" : quote(p.labels->name(gold)));
    }
  }
  // A temporary folder renamed at the end: nothing half-written is left on failure.
  fs::path tmp =
      target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), getpid());
  fs::create_directories(tmp);
  try {
    write_npy(tmp / "features.npy", all);
    write_file_atomic(tmp / "labels.csv", csv);
    write_file_atomic(tmp / "config.yaml", to_yaml_text(config));
    if (fs::exists(target)) fs::remove(target);
    fs::rename(tmp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  if (!options.quiet)
    fmt::print("{} rows × {} features ({}) → {}\n", all.rows(), d, p.feature_source,
               (target / "features.npy").string());
  return target;
}

RunResult run_experiment(const YAML::Node& config, const RunOptions& options) {
  const auto t_start = Clock::now();
  const RunSettings s = RunSettings::from_config(config, options.project_root);
  Context ctx = s.context();
  ctx.device = resolve_device(s.device);
  // Validate the model section before any expensive step.
  const std::unique_ptr<Classifier> model = builtin_models().make(s.model, "model");

  PreparedData prep = prepare_data(s, ctx);
  const std::string& dataset_name = prep.dataset_name;
  const std::size_t dropped = prep.dropped_no_answer;
  const auto& labels = prep.labels;
  const Dataset& train = prep.train;
  const Dataset& val = prep.val;
  const Dataset& cal = prep.cal;
  const Dataset& test = prep.test;
  const std::string& feature_source = prep.feature_source;
  const double load_seconds = prep.load_seconds;
  const double featurize_seconds = prep.featurize_seconds;

  // 3. The surrogate, fitted on train to predict the teacher.
  auto t = Clock::now();
  model->fit(train, &val, ctx);
  const double fit_seconds = seconds_since(t);

  // 4. The gate: top probability, threshold calibrated on cal (empirical).
  const Matrix cal_proba = model->predict_proba(cal.features, ctx);
  const std::vector<LabelId> cal_pred = argmax_rows(cal_proba);
  std::vector<std::uint8_t> cal_agrees(cal.size());
  for (std::size_t i = 0; i < cal.size(); ++i) cal_agrees[i] = cal_pred[i] == cal.teacher[i];
  const ThresholdChoice choice =
      empirical_threshold(top_probability(cal_proba), cal_agrees, s.target);

  // 5. Evaluation on the held-out test split.
  const Matrix test_proba = model->predict_proba(test.features, ctx);
  const std::vector<LabelId> test_pred = argmax_rows(test_proba);
  const std::vector<std::uint8_t> accepted =
      accept_mask(top_probability(test_proba), choice.threshold);
  const RoutingMetrics m = routing_metrics(test_pred, test.teacher, test.gold, accepted);
  const std::vector<LabelId> val_pred = model->predict(val.features, ctx);

  nlohmann::json metrics = {
      {"experiment", s.name},
      {"dataset", dataset_name},
      {"model", std::string(model->name())},
      {"seed", s.seed},
      {"device", std::string(device_name(ctx.device))},
      {"threads", ctx.threads},
      {"features", feature_source},
      {"feature_dim", train.features.cols()},
      {"classes", labels->size()},
      {"rows",
       {{"total", prep.total_rows},
        {"dropped_no_answer", dropped},
        {"train", train.size()},
        {"val", val.size()},
        {"cal", cal.size()},
        {"test", test.size()}}},
      {"calibration",
       {{"mode", "empirical"},
        {"guarantee", false},
        {"score", "top_probability"},
        {"target", s.target},
        {"feasible", choice.feasible},
        {"threshold", choice.feasible ? nlohmann::json(choice.threshold) : nlohmann::json()},
        {"cal_accepted", choice.accepted},
        {"cal_agreement", choice.agreement}}},
      {"surrogate",
       {{"val_teacher_accuracy", accuracy(val.teacher, val_pred)},
        {"test_teacher_accuracy", accuracy(test.teacher, test_pred)},
        {"test_teacher_macro_f1", macro_f1(test.teacher, test_pred)},
        {"test_gold_accuracy",
         test.has_gold() ? nlohmann::json(accuracy(test.gold, test_pred)) : nlohmann::json()}}},
      {"test", routing_json(m)},
      {"seconds",
       {{"load", load_seconds},
        {"featurize", featurize_seconds},
        {"fit", fit_seconds},
        {"total", seconds_since(t_start)}}}};

  // 6. Write the run folder: a temporary folder, renamed when complete.
  const fs::path exp_dir = s.results_dir / s.name;
  fs::create_directories(exp_dir);
  const fs::path tmp_dir = exp_dir / fmt::format(".tmp-{}-{}", timestamp_now(), getpid());
  fs::create_directories(tmp_dir);
  fs::path run_dir;
  try {
    write_file_atomic(tmp_dir / "config.yaml", to_yaml_text(config));
    write_file_atomic(tmp_dir / "metrics.json", metrics.dump(2) + "\n");
    const std::string stamp = timestamp_now();
    run_dir = exp_dir / stamp;
    for (int k = 1; fs::exists(run_dir); ++k) run_dir = exp_dir / fmt::format("{}_{}", stamp, k);
    fs::rename(tmp_dir, run_dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  update_symlink(exp_dir / "latest", run_dir.filename());

  if (!options.quiet) {
    fmt::print("{} — dataset {}, model {}, seed {}, device {}\n", s.name, dataset_name,
               model->name(), s.seed, device_name(ctx.device));
    fmt::print("  rows {} (train {}, val {}, cal {}, test {}), {} classes, features {}\n",
               prep.total_rows, train.size(), val.size(), cal.size(), test.size(), labels->size(),
               feature_source);
    if (choice.feasible)
      fmt::print(
          "  gate: top probability ≥ {:.4f} (empirical, target {:.2f}; cal: {} accepted, "
          "agreement {:.3f})\n",
          choice.threshold, s.target, choice.accepted, choice.agreement);
    else
      fmt::print(
          "  gate: no threshold reaches target {:.2f} on cal: everything goes to the "
          "teacher\n",
          s.target);
    fmt::print(
        "  test: coverage {}  teacher agreement {}  e2e accuracy {}  e2e macro-F1 {}  "
        "(teacher alone: accuracy {})\n",
        fmt_metric(m.coverage), fmt_metric(m.teacher_agreement), fmt_metric(m.e2e_accuracy),
        fmt_metric(m.e2e_macro_f1), fmt_metric(m.teacher_accuracy));
    fmt::print("  {:.1f} s; saved {}\n", seconds_since(t_start),
               (run_dir / "metrics.json").string());
  }
  return RunResult{run_dir, metrics};
}

}  // namespace deferbench
