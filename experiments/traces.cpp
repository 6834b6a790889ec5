#include "experiments/traces.h"

#include <glob.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/config/fields.h"
#include "core/data/csv_reader.h"
#include "core/data/json_pairs_reader.h"
#include "core/data/jsonl_reader.h"
#include "core/data/synthetic.h"
#include "core/data/synthetic_experts.h"
#include "core/util/context.h"
#include "core/util/error.h"
#include "experiments/run_settings.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

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
  c.fields = r.get_string_list("fields", {});
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
  o.field_keys = r.get_string_list("fields", {});
  o.no_answer = r.get_string_list("no_answer", {});
  r.finish();
  return o;
}

// dataset.synthetic_experts: the regions' cuts on x[0] and each expert's error rate per region.
SyntheticExpertsOptions read_synthetic_experts(const YAML::Node& syn, const YAML::Node& node) {
  SyntheticExpertsOptions o;
  o.base = read_synthetic(syn);
  o.base.teacher_error_rate = 0.0;
  FieldReader r(node, "dataset.synthetic_experts");
  if (r.has("cuts")) {
    o.cuts.clear();
    for (const std::string& t : r.get_string_list("cuts", {})) {
      char* end = nullptr;
      const double v = std::strtod(t.c_str(), &end);
      DB_CHECK(!t.empty() && end == t.c_str() + t.size(),
               "config: 'dataset.synthetic_experts.cuts': expected numbers, got '{}'", t);
      o.cuts.push_back(v);
    }
  }
  o.region_features = r.get_bool("region_features", o.region_features);
  if (r.has("error_rates")) {
    r.allow("error_rates");
    const YAML::Node rates = node["error_rates"];
    DB_CHECK(rates.IsSequence(),
             "config: 'dataset.synthetic_experts.error_rates': expected a list (one per expert) "
             "of lists (one rate per region)");
    o.error_rates.clear();
    for (std::size_t j = 0; j < rates.size(); ++j) {
      DB_CHECK(rates[j].IsSequence(),
               "config: 'dataset.synthetic_experts.error_rates[{}]': expected a list of rates, one "
               "per region",
               j);
      std::vector<double> row;
      for (std::size_t q = 0; q < rates[j].size(); ++q) {
        double v = 0;
        DB_CHECK(rates[j][q].IsScalar() && YAML::convert<double>::decode(rates[j][q], v),
                 "config: 'dataset.synthetic_experts.error_rates[{}][{}]': expected a number", j,
                 q);
        row.push_back(v);
      }
      o.error_rates.push_back(std::move(row));
    }
  }
  r.finish();
  validate(o);
  return o;
}

// The seed of the synthetic traces: the run's unless the section sets one.
std::uint64_t synthetic_seed(const YAML::Node& syn, std::uint64_t seed) {
  if (!syn["seed"]) return seed;
  return static_cast<std::uint64_t>(
      FieldReader(syn, "dataset.synthetic").get_int("seed", 0, 0, INT64_MAX));
}

// The files `dataset.files` names, against data_dir; a pattern stands for its matches, sorted
// (glob(3) sorts them).
std::vector<fs::path> resolve_files(const std::vector<std::string>& files,
                                    const fs::path& data_dir) {
  std::vector<fs::path> paths;
  for (std::size_t i = 0; i < files.size(); ++i) {
    fs::path p = absolute_against(files[i], data_dir);
    if (files[i].find_first_of("*?[") != std::string::npos) {
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
  return paths;
}

}  // namespace

Traces load_traces(const YAML::Node& dataset, const fs::path& data_dir, std::uint64_t seed) {
  FieldReader r(dataset, "dataset");
  r.get_string("name", "");
  r.allow("subsample");  // read by prepare_data (after the label space is built)
  r.allow("subsample_seed");
  r.allow("subsample_test");
  r.allow("subsample_own_test");
  const std::string format =
      r.get_choice("format", "", {"synthetic", "synthetic_experts", "csv", "jsonl", "json_pairs"});
  if (format == "synthetic_experts") {
    YAML::Node syn = r.get_map("synthetic");
    const std::uint64_t data_seed = synthetic_seed(syn, seed);
    SyntheticExpertsOptions opts = read_synthetic_experts(syn, r.get_map("synthetic_experts"));
    r.finish();
    return generate_synthetic_experts(opts, data_seed);
  }
  if (format == "synthetic") {
    YAML::Node syn = r.get_map("synthetic");
    const std::uint64_t data_seed = synthetic_seed(syn, seed);
    SyntheticOptions opts = read_synthetic(syn);
    r.finish();
    return generate_synthetic(opts, data_seed);
  }
  std::vector<std::string> files = r.get_string_list("files", {});
  DB_CHECK(!files.empty(), "config: 'dataset.files': expected at least one {} file", format);
  const std::vector<fs::path> paths = resolve_files(files, data_dir);
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

}  // namespace deferbench
