#include "experiments/run.h"

#include <glob.h>
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
#include "core/data/json_pairs_reader.h"
#include "core/data/jsonl_reader.h"
#include "core/data/npy.h"
#include "core/data/synthetic.h"
#include "core/metrics/metrics.h"
#include "core/routing/calibration.h"
#include "core/routing/frontier.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "experiments/policy_io.h"
#include "experiments/run_log.h"
#include "models/backend.h"
#include "models/registry.h"

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

// NaN (an undefined metric, e.g. agreement when nothing is handled) is written as null.
nlohmann::json nan_to_json(double x) {
  return std::isnan(x) ? nlohmann::json() : nlohmann::json(x);
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

}  // namespace

std::string timestamp_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &tm);
  return buf;
}

void update_symlink(const fs::path& link, const fs::path& target) {
  fs::path tmp = link.parent_path() / fmt::format(".{}.tmp-{}", link.filename().string(), getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(target, tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) spdlog::warn("could not update {}: {}", link.string(), ec.message());
}

fs::path new_stamped_folder(const fs::path& parent) {
  fs::create_directories(parent);
  const std::string stamp = timestamp_now();
  fs::path dir = parent / stamp;
  for (int k = 1; !fs::create_directory(dir); ++k) dir = parent / fmt::format("{}_{}", stamp, k);
  return dir;
}

Context RunSettings::context() const {
  return make_context(device, seed, threads);
}

RunSettings RunSettings::from_config(const YAML::Node& config, const fs::path& project_root) {
  RunSettings s;
  FieldReader r(config, "");
  s.name = r.get_string("name", "default");
  DB_CHECK(!s.name.empty() && s.name.find('/') == std::string::npos && s.name[0] != '.',
           "config: 'name': expected a folder name (no '/', not starting with '.'), got '{}'",
           s.name);
  s.seed = static_cast<std::uint64_t>(r.get_int("seed", 0, 0, INT64_MAX));
  s.threads = resolve_threads(static_cast<int>(r.get_int("threads", 0, 0, 4096)));
  const std::string device = r.get_string("device", "auto");
  try {
    s.device = parse_device_request(device);
  } catch (const Error&) {
    DB_THROW("config: 'device': expected one of cpu, cuda, cuda:N (N a GPU number), auto, got '{}'",
             device);
  }
  s.data_dir = absolute_against(r.get_string("data_dir", "../shared/data"), project_root);
  s.results_dir = absolute_against(r.get_string("results_dir", "results"), fs::current_path());
  s.split = read_split(r.get_map("split"));
  const std::string save = r.get_string("save_policy", "");
  if (!save.empty()) s.save_policy = absolute_against(save, fs::current_path());

  FieldReader f(r.get_map("features"), "features");
  s.feature_kind = f.get_choice("kind", "auto", {"auto", "embeddings", "text"});
  s.text = TextFeaturizerOptions::from_yaml(f.get_map("text"), "features.text");
  f.finish();

  s.calibration = CalibrationSettings::from_yaml(r.get_map("calibration"), "calibration");
  s.pipeline = FamilyOptions::from_yaml(r.get_map("pipeline"), "pipeline");

  s.dataset = r.get_map("dataset");
  s.model = r.get_map("model");
  r.allow("sweep");  // the axes `run -m` adds (ignored by a single run)
  r.finish();
  return s;
}

Traces load_traces(const YAML::Node& dataset, const fs::path& data_dir, std::uint64_t seed) {
  FieldReader r(dataset, "dataset");
  r.get_string("name", "");
  const std::string format =
      r.get_choice("format", "", {"synthetic", "csv", "jsonl", "json_pairs"});
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
    if (files[i].find_first_of("*?[") != std::string::npos) {
      // A pattern: its matches, sorted (glob(3) sorts them).
      glob_t g{};
      const int rc = glob(p.c_str(), 0, nullptr, &g);
      for (std::size_t k = 0; rc == 0 && k < g.gl_pathc; ++k) paths.emplace_back(g.gl_pathv[k]);
      globfree(&g);
      DB_CHECK(rc == 0, "config: 'dataset.files[{}]': no file matches {} (data_dir is {})", i,
               p.string(), data_dir.string());
      continue;
    }
    DB_CHECK(fs::exists(p), "config: 'dataset.files[{}]': file not found: {} (data_dir is {})", i,
             p.string(), data_dir.string());
    paths.push_back(p);
  }
  Traces all;
  if (format == "csv") {
    CsvColumns columns = read_csv_columns(r.get_map("csv"));
    r.finish();
    for (const fs::path& p : paths) all.append(read_csv_traces(p, columns));
  } else if (format == "json_pairs") {
    FieldReader jp(r.get_map("json_pairs"), "dataset.json_pairs");
    JsonPairsOptions o;
    o.parts = jp.get_string_list("parts", o.parts);
    o.teacher_error_rate = jp.get_double("teacher_error_rate", 0.0, 0.0, 1.0);
    jp.finish();
    r.finish();
    for (std::size_t i = 0; i < paths.size(); ++i)
      all.append(read_json_pairs(paths[i], o, mix_seed(seed, i)));
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
    p.featurizer = std::make_shared<TextFeaturizer>(s.text);
    p.featurizer->fit(p.train.texts, *make_dense_solver(ctx), ctx);
    for (Dataset* d : {&p.train, &p.val, &p.cal, &p.test})
      d->features = p.featurizer->transform(d->texts, ctx);
    p.feature_source = fmt::format("text-lsa-{}", p.featurizer->dim());
  }
  p.featurize_seconds = seconds_since(t);
  // Only when a kNN feature or the OOD guard will search it (the index copies train's features);
  // without one, fit_cascade builds its own where needed.
  if (s.pipeline.acceptor.knn > 0 || s.pipeline.ood_k > 0)
    p.train_index = std::make_shared<const NeighbourIndex>(p.train.features, p.train.teacher);
  return p;
}

fs::path featurize_to(const YAML::Node& config, const RunOptions& options, const fs::path& out) {
  const RunSettings s = RunSettings::from_config(config, options.project_root);
  Context ctx = s.context();
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

namespace {

// A candidate surrogate: its config spec, a display label, and its fitted stages.
struct Surrogate {
  YAML::Node spec;
  std::string label;
  std::shared_ptr<const FittedSurrogate> fitted;
  bool cached = false;  // the fit came from a sweep's cache
};

std::string label_of(const YAML::Node& spec) {
  std::string label = spec["name"].as<std::string>();
  std::string params;
  for (const auto& kv : spec) {
    const std::string key = kv.first.as<std::string>();
    if (key == "name") continue;
    params += fmt::format("{}{}={}", params.empty() ? "" : ",", key,
                          kv.second.IsScalar() ? kv.second.Scalar() : "...");
  }
  return params.empty() ? label : label + "(" + params + ")";
}

struct Evaluated {
  RoutingMetrics m;
  double cost_per_1k = 0;
  std::vector<std::size_t> handled_per_stage;
  std::vector<double> agreement_per_stage;
};

// The outputs each stage of a `family` policy with `n_stages` stages sees on a split, from its
// fitted stages' outputs on every row of the split: l2d and rsb stage k use fitted stage k;
// global is stage 1 without its acceptor (every score 1, out-of-distribution rows kept −∞).
std::vector<StageOutput> policy_outputs(const std::string& family, std::size_t n_stages,
                                        const std::vector<const StageOutput*>& fitted) {
  std::vector<StageOutput> out;
  for (std::size_t k = 0; k < n_stages; ++k) out.push_back(*fitted.at(k));
  if (family == "global")
    for (float& sc : out.at(0).score)
      if (!(std::isinf(sc) && sc < 0)) sc = 1.0f;
  return out;
}

// Routes a split with a built policy from precomputed stage outputs (no stages: all deferred)
// and measures it.
Evaluated evaluate(const std::vector<Stage>& stages, const std::string& family,
                   const std::vector<const StageOutput*>& fitted, const Dataset& split,
                   const FamilyOptions& opt) {
  Routed r;
  if (stages.empty()) {
    r.label.assign(split.size(), kNoLabel);
    r.stage.assign(split.size(), -1);
    r.score.assign(split.size(), 0.0f);
    r.first_prediction.assign(split.size(), kNoLabel);
  } else {
    r = route_outputs(stages, policy_outputs(family, stages.size(), fitted));
  }
  std::vector<std::uint8_t> handled(split.size());
  std::vector<LabelId> answer(split.size());
  Evaluated e;
  e.handled_per_stage.assign(stages.size(), 0);
  std::vector<std::size_t> agreed(stages.size(), 0);
  for (std::size_t i = 0; i < split.size(); ++i) {
    handled[i] = r.stage[i] >= 0;
    answer[i] = handled[i] ? r.label[i] : r.first_prediction[i];
    if (handled[i]) {
      ++e.handled_per_stage[static_cast<std::size_t>(r.stage[i])];
      agreed[static_cast<std::size_t>(r.stage[i])] += r.label[i] == split.teacher[i];
    }
  }
  e.m = routing_metrics(answer, split.teacher, split.gold, handled);
  e.cost_per_1k = cost_per_1k(e.m.coverage, opt.teacher_cost, opt.surrogate_cost);
  for (std::size_t k = 0; k < stages.size(); ++k)
    e.agreement_per_stage.push_back(e.handled_per_stage[k]
                                        ? static_cast<double>(agreed[k]) / e.handled_per_stage[k]
                                        : std::nan(""));
  return e;
}

nlohmann::json thresholds_json(const std::vector<Stage>& stages) {
  nlohmann::json out = nlohmann::json::array();
  for (const Stage& s : stages) {
    nlohmann::json t = nlohmann::json::array();
    for (double v : s.thresholds) t.push_back(threshold_json(v));
    out.push_back({{"thresholds", t},
                   {"feasible", s.feasible},
                   {"cal_rows", s.cal_rows},
                   {"cal_accepted", s.cal_accepted},
                   {"cal_agreement", nan_to_json(s.cal_agreement)},
                   {"lower_bound", nan_to_json(s.lower_bound)}});
  }
  return out;
}

std::string csv_number(double x) {
  return std::isnan(x) ? "" : fmt::format("{:.6g}", x);
}

// Everything a run decides before its expensive steps: settings, the validated zoo and the
// cache keys of its shared work.
struct RunPlan {
  RunSettings s;
  Context ctx;
  ModelFactory factory;
  std::vector<Surrogate> zoo;
  bool need_rsb = false;
  std::string prep_key;
  std::vector<std::string> fit_keys;  // per zoo member
};

std::string yaml_key(const YAML::Node& node) {
  return node ? YAML::Dump(node) : "~";
}

RunPlan plan_run(const YAML::Node& config, const RunOptions& options) {
  RunPlan p;
  p.s = RunSettings::from_config(config, options.project_root);
  const RunSettings& s = p.s;
  p.ctx = s.context();
  p.factory = [](const YAML::Node& spec, const std::string& path) {
    return builtin_models().make(spec, path);
  };
  // The candidate surrogates; every spec is validated before any expensive step.
  auto& zoo = p.zoo;
  zoo.push_back({YAML::Clone(s.model), "", nullptr, false});
  for (const YAML::Node& spec : s.pipeline.zoo) zoo.push_back({spec, "", nullptr, false});
  for (std::size_t i = 0; i < zoo.size(); ++i) {
    p.factory(zoo[i].spec, i == 0 ? "model" : fmt::format("pipeline.zoo[{}]", i - 1));
    // The `model` group's member is named by its model; zoo members by what their entry sets.
    zoo[i].label = i == 0 ? zoo[i].spec["name"].as<std::string>() : label_of(zoo[i].spec);
    for (std::size_t j = 0; j < i; ++j)
      if (zoo[j].label == zoo[i].label) zoo[i].label += fmt::format("#{}", i);
  }
  p.factory(s.pipeline.acceptor.model, "pipeline.acceptor.model");
  const auto& families = s.pipeline.families;
  p.need_rsb = std::find(families.begin(), families.end(), "rsb") != families.end();

  // Shared work is keyed by everything it depends on. Preparation: the data set, its folder,
  // the split and its seed, the featurizer, device and threads. A fit: its preparation, the
  // member's spec and place in the zoo (its seed), the stage count and the pipeline's fit
  // settings (acceptor, rsb, ood: everything but families, zoo, selection and costs).
  p.prep_key = fmt::format("prep|{}|{}|{}|{}|{}|{}|{}", yaml_key(config["dataset"]),
                           s.data_dir.string(), s.seed, yaml_key(config["split"]),
                           yaml_key(config["features"]), device_name(p.ctx.device), p.ctx.threads);
  YAML::Node fit_settings = YAML::Clone(config["pipeline"]);
  if (fit_settings && fit_settings.IsMap())
    for (const char* k : {"families", "zoo", "selection", "teacher_cost", "surrogate_cost"})
      fit_settings.remove(k);
  const int stages = p.need_rsb ? s.pipeline.rsb_stages : 1;
  for (std::size_t i = 0; i < zoo.size(); ++i)
    p.fit_keys.push_back(fmt::format("fit|{}|{}|{}|{}|{}", p.prep_key, i, yaml_key(zoo[i].spec),
                                     stages, yaml_key(fit_settings)));
  return p;
}

}  // namespace

std::vector<std::string> run_cache_keys(const YAML::Node& config, const RunOptions& options) {
  RunPlan p = plan_run(config, options);
  std::vector<std::string> keys{p.prep_key};
  keys.insert(keys.end(), p.fit_keys.begin(), p.fit_keys.end());
  return keys;
}

void FitCache::expect(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& k : keys) ++entries_[k].expected;
}

void FitCache::release(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& k : keys) {
    auto it = entries_.find(k);
    if (it != entries_.end() && --it->second.expected <= 0) entries_.erase(it);
  }
}

FitCache::Value FitCache::get(const std::string& key, const std::function<Value()>& make) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {  // nobody declared it: compute, keep nothing
    ++computed_;
    lock.unlock();
    return make();
  }
  if (it->second.started) {
    ++reused_;
    std::shared_future<Value> f = it->second.value;
    lock.unlock();
    return f.get();  // rethrows the computing run's error
  }
  std::promise<Value> promise;
  it->second.started = true;
  it->second.value = promise.get_future().share();
  ++computed_;
  lock.unlock();
  try {
    Value v = make();
    promise.set_value(v);
    return v;
  } catch (...) {
    promise.set_exception(std::current_exception());
    throw;
  }
}

std::shared_ptr<const PreparedData> FitCache::prepared(const std::string& key,
                                                       const std::function<PreparedData()>& make) {
  return std::static_pointer_cast<const PreparedData>(
      get(key, [&] { return Value(std::make_shared<const PreparedData>(make())); }));
}

std::shared_ptr<const FittedSurrogate> FitCache::fitted(
    const std::string& key, const std::function<FittedSurrogate()>& make) {
  return std::static_pointer_cast<const FittedSurrogate>(
      get(key, [&] { return Value(std::make_shared<const FittedSurrogate>(make())); }));
}

std::size_t FitCache::computed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return computed_;
}
std::size_t FitCache::reused() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reused_;
}
std::size_t FitCache::live() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

RunOutput compute_run(const YAML::Node& config, const RunOptions& options) {
  const auto t_start = Clock::now();
  RunPlan plan = plan_run(config, options);
  const RunSettings& s = plan.s;
  const Context& ctx = plan.ctx;
  auto& zoo = plan.zoo;
  DB_CHECK(s.save_policy.empty() || !fs::exists(s.save_policy) || fs::is_empty(s.save_policy),
           "save_policy: {} exists and is not empty (choose a new folder)", s.save_policy.string());

  auto make_prep = [&] { return prepare_data(s, ctx); };
  std::shared_ptr<const PreparedData> prep_ptr =
      options.cache ? options.cache->prepared(plan.prep_key, make_prep)
                    : std::make_shared<const PreparedData>(make_prep());
  const PreparedData& prep = *prep_ptr;
  const Dataset& train = prep.train;
  const Dataset& val = prep.val;
  const Dataset& cal = prep.cal;
  const Dataset& test = prep.test;
  const auto& families = s.pipeline.families;

  // Fits: once per surrogate, shared by every target and family (and, in a sweep, by every
  // run with the same data, split and fit settings).
  double fit_seconds = 0;
  for (std::size_t i = 0; i < zoo.size(); ++i) {
    auto t = Clock::now();
    bool computed = false;
    auto make_fit = [&] {
      computed = true;
      const auto t_fit = Clock::now();
      FittedSurrogate f;
      f.stages = fit_cascade(zoo[i].spec, plan.need_rsb ? s.pipeline.rsb_stages : 1, train, val,
                             cal, s.pipeline, plan.factory, ctx.derive(i), prep.train_index);
      f.fit_seconds = seconds_since(t_fit);
      for (const FittedStage& st : f.stages)
        f.test.push_back(evaluate_stage(st.stage, test.features, ctx));
      return f;
    };
    zoo[i].fitted = options.cache ? options.cache->fitted(plan.fit_keys[i], make_fit)
                                  : std::make_shared<const FittedSurrogate>(make_fit());
    zoo[i].cached = !computed;
    fit_seconds += seconds_since(t);
    if (computed)
      spdlog::info("{}: fitted {} stage(s) in {:.2f} s", zoo[i].label, zoo[i].fitted->stages.size(),
                   zoo[i].fitted->fit_seconds);
    else
      spdlog::info("{}: {} stage(s) reused from the sweep's cache (fitted in {:.2f} s)",
                   zoo[i].label, zoo[i].fitted->stages.size(), zoo[i].fitted->fit_seconds);
  }
  // Every fitted stage's outputs on every val and test row, computed once: routing a split
  // with any family's policy at any target is then threshold comparisons.
  std::vector<std::vector<const StageOutput*>> val_outputs(zoo.size()), test_outputs(zoo.size());
  for (std::size_t i = 0; i < zoo.size(); ++i)
    for (std::size_t k = 0; k < zoo[i].fitted->stages.size(); ++k) {
      val_outputs[i].push_back(&zoo[i].fitted->stages[k].val);
      test_outputs[i].push_back(&zoo[i].fitted->test[k]);
    }

  // Candidates at every target: selection on val, deployment calibrated on cal, test metrics.
  CalibrationSettings calib = s.calibration;
  if (calib.window_test) calib.window = static_cast<double>(test.size());
  // Selection happens on val, which is disjoint from cal, so it leaves the calibration's
  // guarantee intact: each candidate is calibrated on val with the run's own mode (a cascade
  // pays its δ/K there too). When no candidate passes there, the ranking falls back to the
  // point estimate on val — still val only.
  CalibrationSettings point_estimate = calib;
  point_estimate.mode = "empirical";
  std::string frontier_csv =
      "target,family,model,val_coverage,val_agreement,val_cost_per_1k,val_feasible,on_frontier,"
      "selected,"
      "cal_feasible,stage1_threshold,stage1_lower_bound,test_coverage,test_agreement,"
      "test_e2e_accuracy,test_e2e_macro_f1,test_cost_per_1k\n";
  nlohmann::json per_target = nlohmann::json::array();
  std::vector<std::vector<Stage>> deployed_per_target;
  struct Row {
    std::string family, model;
    BuiltPolicy on_val, on_cal;
    Evaluated val, test;
  };
  for (double target : calib.targets) {
    std::vector<Row> rows;
    for (std::size_t i = 0; i < zoo.size(); ++i) {
      for (const std::string& family : families) {
        Row row{family, zoo[i].label, {}, {}, {}, {}};
        row.on_val = build_policy(family, zoo[i].fitted->stages, val, cal, target, calib,
                                  s.pipeline, CalibrateOn::kVal, s.seed);
        row.on_cal = build_policy(family, zoo[i].fitted->stages, val, cal, target, calib,
                                  s.pipeline, CalibrateOn::kCal, s.seed);
        row.val = evaluate(row.on_val.stages, family, val_outputs[i], val, s.pipeline);
        row.test = evaluate(row.on_cal.stages, family, test_outputs[i], test, s.pipeline);
        rows.push_back(std::move(row));
      }
    }
    const bool any_feasible =
        std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.on_val.feasible; });
    std::string selection = calib.mode;
    if (!any_feasible && calib.mode != "empirical") {
      selection = "empirical (fallback: no candidate passes on val)";
      for (std::size_t k = 0; k < rows.size(); ++k) {
        Row& r = rows[k];
        const std::size_t i = k / families.size();
        r.on_val = build_policy(r.family, zoo[i].fitted->stages, val, cal, target, point_estimate,
                                s.pipeline, CalibrateOn::kVal, s.seed);
        r.val = evaluate(r.on_val.stages, r.family, val_outputs[i], val, s.pipeline);
      }
    }
    std::vector<FrontierPoint> points;
    for (const Row& r : rows)
      points.push_back({r.val.m.coverage, r.val.m.teacher_agreement, r.val.cost_per_1k});
    const std::vector<std::size_t> front = pareto_front(points);
    // The deployed candidate: the frontier point with the most val coverage among those whose
    // val calibration holds (ties: the first in zoo × family order).
    std::ptrdiff_t chosen = -1;
    for (std::size_t idx : front)
      if (rows[idx].on_val.feasible &&
          (chosen < 0 ||
           rows[idx].val.m.coverage > rows[static_cast<std::size_t>(chosen)].val.m.coverage))
        chosen = static_cast<std::ptrdiff_t>(idx);
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const Row& r = rows[k];
      const bool on_front = std::find(front.begin(), front.end(), k) != front.end();
      const Stage& st1 = r.on_cal.stages.front();
      frontier_csv +=
          fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", target, r.family,
                      r.model, csv_number(r.val.m.coverage), csv_number(r.val.m.teacher_agreement),
                      csv_number(r.val.cost_per_1k), r.on_val.feasible ? 1 : 0, on_front ? 1 : 0,
                      static_cast<std::ptrdiff_t>(k) == chosen ? 1 : 0, r.on_cal.feasible ? 1 : 0,
                      csv_number(st1.thresholds.size() == 1 ? st1.thresholds[0] : std::nan("")),
                      csv_number(st1.lower_bound), csv_number(r.test.m.coverage),
                      csv_number(r.test.m.teacher_agreement), csv_number(r.test.m.e2e_accuracy),
                      csv_number(r.test.m.e2e_macro_f1), csv_number(r.test.cost_per_1k));
    }
    nlohmann::json t = {
        {"target", target}, {"candidates", rows.size()}, {"frontier", front.size()}};
    if (chosen < 0) {
      // Nothing can be deployed: everything goes to the teacher.
      const Evaluated none = evaluate({}, "", {}, test, s.pipeline);
      t["selected"] = nullptr;
      t["deployed"] = false;
      t["note"] = "no candidate meets the target on val: every query goes to the teacher";
      t["test"] = routing_json(none.m);
      t["test"]["cost_per_1k"] = none.cost_per_1k;
      deployed_per_target.emplace_back();
    } else {
      const Row& r = rows[static_cast<std::size_t>(chosen)];
      const bool deployed = r.on_cal.feasible;
      const Evaluated e = deployed ? r.test : evaluate({}, "", {}, test, s.pipeline);
      t["selected"] = {{"family", r.family},
                       {"model", r.model},
                       {"val_coverage", nan_to_json(r.val.m.coverage)},
                       {"val_agreement", nan_to_json(r.val.m.teacher_agreement)}};
      t["deployed"] = deployed;
      t["stages"] = thresholds_json(r.on_cal.stages);
      deployed_per_target.push_back(deployed ? r.on_cal.stages : std::vector<Stage>());
      if (!deployed)
        t["note"] =
            "the selected candidate's calibration on cal does not hold: every query goes "
            "to the teacher";
      t["test"] = routing_json(e.m);
      t["test"]["cost_per_1k"] = e.cost_per_1k;
      t["test"]["handled_per_stage"] = e.handled_per_stage;
      t["test"]["agreement_per_stage"] = nlohmann::json::array();
      for (double a : e.agreement_per_stage)
        t["test"]["agreement_per_stage"].push_back(nan_to_json(a));
    }
    per_target.push_back(t);
  }

  nlohmann::json zoo_json = nlohmann::json::array();
  for (const Surrogate& z : zoo) {
    const std::vector<LabelId>& pred = z.fitted->test.front().pred;
    zoo_json.push_back(
        {{"model", z.label},
         {"stages", z.fitted->stages.size()},
         {"fit_seconds", z.fitted->fit_seconds},
         {"cached", z.cached},
         {"test_teacher_accuracy", nan_to_json(accuracy(test.teacher, pred))},
         {"test_teacher_macro_f1", nan_to_json(macro_f1(test.teacher, pred))},
         {"test_gold_accuracy",
          test.has_gold() ? nan_to_json(accuracy(test.gold, pred)) : nlohmann::json()}});
  }

  nlohmann::json metrics = {{"experiment", s.name},
                            {"dataset", prep.dataset_name},
                            {"model", zoo.front().label},
                            {"seed", s.seed},
                            {"device", std::string(device_name(ctx.device))},
                            {"threads", ctx.threads},
                            {"features", prep.feature_source},
                            {"feature_dim", train.features.cols()},
                            {"classes", prep.labels->size()},
                            {"rows",
                             {{"total", prep.total_rows},
                              {"dropped_no_answer", prep.dropped_no_answer},
                              {"train", train.size()},
                              {"val", val.size()},
                              {"cal", cal.size()},
                              {"test", test.size()}}},
                            {"calibration",
                             {{"mode", calib.mode},
                              {"guarantee", calib.mode == "guaranteed"},
                              {"delta", calib.guaranteed.delta},
                              {"per_class", calib.per_class},
                              {"window", calib.window},  // queries (0: about TA itself)
                              {"window_spec", calib.window_test  ? std::string("test")
                                              : calib.window > 0 ? fmt::format("{}", calib.window)
                                                                 : std::string("none")},
                              {"selection", "on val (disjoint from cal), then calibrated on cal"},
                              {"targets", calib.targets}}},
                            {"zoo", zoo_json},
                            {"targets", per_target},
                            // The first target's deployed policy, flat, for tables.
                            {"test", per_target.front()["test"]},
                            {"seconds",
                             {{"load", prep.load_seconds},
                              {"featurize", prep.featurize_seconds},
                              {"fit", fit_seconds},  // this run's wait for fits
                              {"total", seconds_since(t_start)}}}};

  RunOutput out;
  out.config = clone(config);
  out.settings = s;
  out.metrics = std::move(metrics);
  out.frontier_csv = std::move(frontier_csv);
  out.deployed = std::move(deployed_per_target);
  out.prep = prep_ptr;
  return out;
}

void write_run_files(const RunOutput& out, const fs::path& dir, const std::string& log_text) {
  write_file_atomic(dir / "config.yaml", to_yaml_text(out.config));
  write_file_atomic(dir / "metrics.json", out.metrics.dump(2) + "\n");
  write_file_atomic(dir / "frontier.csv", out.frontier_csv);
  write_file_atomic(dir / "log.txt", log_text);
}

void save_run_policies(const RunOutput& out, const fs::path& dir, const fs::path& run_dir) {
  const auto& targets = out.metrics["targets"];
  const PreparedData& prep = *out.prep;
  for (std::size_t k = 0; k < targets.size(); ++k) {
    const double target = targets[k]["target"].get<double>();
    const fs::path where = targets.size() == 1 ? dir : dir / fmt::format("target-{}", target);
    nlohmann::json info = {{"experiment", out.settings.name},
                           {"target", target},
                           {"calibration", out.metrics["calibration"]},
                           {"selected", targets[k]["selected"]},
                           {"deployed", targets[k]["deployed"]},
                           {"test", targets[k]["test"]},
                           {"run_dir", run_dir.string()}};
    info["config_yaml"] = to_yaml_text(out.config);
    save_policy(where, out.deployed[k], prep.featurizer.get(), *prep.labels,
                prep.train.features.cols(), info);
  }
}

namespace {

void print_run_summary(const RunOutput& out, const fs::path& run_dir) {
  const nlohmann::json& m = out.metrics;
  fmt::print("{} — dataset {}, seed {}, device {}, calibration {} (δ = {})\n", out.settings.name,
             m["dataset"].get<std::string>(), m["seed"].get<std::uint64_t>(),
             m["device"].get<std::string>(), m["calibration"]["mode"].get<std::string>(),
             m["calibration"]["delta"].get<double>());
  const auto& rows = m["rows"];
  fmt::print("  rows {} (train {}, val {}, cal {}, test {}), {} classes, features {}\n",
             rows["total"].get<std::size_t>(), rows["train"].get<std::size_t>(),
             rows["val"].get<std::size_t>(), rows["cal"].get<std::size_t>(),
             rows["test"].get<std::size_t>(), m["classes"].get<std::size_t>(),
             m["features"].get<std::string>());
  for (const auto& t : m["targets"]) {
    const auto& mt = t["test"];
    auto num = [&](const char* key) {
      return mt[key].is_number() ? fmt::format("{:.3f}", mt[key].get<double>()) : "n/a";
    };
    std::string who = t["selected"].is_null()
                          ? "teacher only"
                          : fmt::format("{} / {}", t["selected"]["family"].get<std::string>(),
                                        t["selected"]["model"].get<std::string>());
    fmt::print(
        "  target {:.2f}: {}{} — test coverage {}  agreement {}  e2e accuracy {}  "
        "e2e macro-F1 {}  (teacher alone {})\n",
        t["target"].get<double>(), who, t["deployed"].get<bool>() ? "" : " (not deployed)",
        num("coverage"), num("teacher_agreement"), num("e2e_accuracy"), num("e2e_macro_f1"),
        num("teacher_accuracy"));
  }
  fmt::print("  {:.1f} s; saved {}\n", m["seconds"]["total"].get<double>(), run_dir.string());
}

}  // namespace

RunResult run_experiment(const YAML::Node& config, const RunOptions& options) {
  std::string log_text;
  RunOutput out;
  {
    RunLogCapture capture(&log_text);
    out = compute_run(config, options);
  }
  // Write the run folder: a temporary folder, renamed when complete.
  const fs::path exp_dir = out.settings.results_dir / out.settings.name;
  fs::create_directories(exp_dir);
  const fs::path tmp_dir = exp_dir / fmt::format(".tmp-{}-{}", timestamp_now(), getpid());
  fs::create_directories(tmp_dir);
  fs::path run_dir;
  try {
    write_run_files(out, tmp_dir, log_text);
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
  if (!out.settings.save_policy.empty()) save_run_policies(out, out.settings.save_policy, run_dir);
  if (!options.quiet) print_run_summary(out, run_dir);
  return RunResult{run_dir, out.metrics, out.deployed.front()};
}

}  // namespace deferbench
