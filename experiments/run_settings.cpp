#include "experiments/run_settings.h"

#include <cstdint>

#include "core/config/fields.h"
#include "core/util/error.h"
#include "models/backend.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

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

}  // namespace

fs::path absolute_against(const fs::path& p, const fs::path& base) {
  return (p.is_absolute() ? p : base / p).lexically_normal();
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
  s.audit = r.get_bool("audit", false);
  s.audit_fdr = r.get_double("audit_fdr", 0.1, 1e-6, 0.5);
  s.audit_time = r.get_choice("audit_time", "auto", {"auto", "row_order", "none"});
  s.audit_windows = static_cast<int>(r.get_int("audit_windows", 5, 2, 1000));

  FieldReader f(r.get_map("features"), "features");
  s.feature_kind = f.get_choice("kind", "auto", {"auto", "embeddings", "text"});
  s.text = TextFeaturizerOptions::from_yaml(f.get_map("text"), "features.text");
  f.finish();

  s.calibration = CalibrationSettings::from_yaml(r.get_map("calibration"), "calibration");
  s.pipeline = FamilyOptions::from_yaml(r.get_map("pipeline"), "pipeline");

  s.dataset = r.get_map("dataset");
  s.model = r.get_map("model");
  if (r.has("experts")) s.experts = r.get_map("experts");
  s.stream = StreamSettings::from_yaml(r.get_map("stream"), "stream");
  DB_CHECK(
      !(s.stream.enabled && s.experts.IsMap()),
      "config: 'stream.enabled' and 'experts': a stream replays one surrogate and the teacher; "
      "it does not route among experts (drop one of them)");
  r.allow("sweep");     // the axes `run -m` adds (ignored by a single run)
  r.allow("launcher");  // where a sweep's runs execute (experiments/launcher.h)
  r.finish();
  return s;
}

}  // namespace deferbench
