#include "experiments/stream_settings.h"

#include "core/config/fields.h"
#include "core/util/error.h"

namespace deferbench {

StreamSettings StreamSettings::from_yaml(const YAML::Node& node, const std::string& path) {
  StreamSettings s;
  FieldReader r(node, path);
  s.enabled = r.get_bool("enabled", false);
  s.order = r.get_choice("order", s.order, {"auto", "time", "rows", "shuffle"});
  s.scenario = r.get_choice("scenario", s.scenario,
                            {"stationary", "waves", "prior_shift", "teacher_change"});
  s.waves = static_cast<int>(r.get_int("waves", s.waves, 1, 100000));
  s.prior_shift = r.get_double("prior_shift", s.prior_shift, 0.0, 100.0);
  s.change_at = r.get_double("change_at", s.change_at, 0.0, 1.0);
  s.change_from = r.get_string("change_from", "");
  s.change_to = r.get_string("change_to", "");
  s.cold_start = static_cast<std::size_t>(r.get_int("cold_start", 1000, 50, INT64_MAX));
  s.audit_share = r.get_double("audit_share", s.audit_share, 1e-6, 1.0);
  s.refit_every = static_cast<std::size_t>(r.get_int("refit_every", 2000, 1, INT64_MAX));
  s.refit_after_alarm = static_cast<std::size_t>(r.get_int("refit_after_alarm", 0, 0, INT64_MAX));
  s.val_share = r.get_double("val_share", s.val_share, 0.05, 0.95);
  s.cold_cal_share = r.get_double("cold_cal_share", s.cold_cal_share, 0.05, 0.95);
  s.fallback_cal_share = r.get_double("fallback_cal_share", s.fallback_cal_share, 0.0, 0.9);
  s.max_train = static_cast<std::size_t>(r.get_int("max_train", 0, 0, INT64_MAX));
  s.cal_window = static_cast<std::size_t>(r.get_int("cal_window", 0, 0, INT64_MAX));
  s.cross_fit = static_cast<int>(r.get_int("cross_fit", 0, 0, 100));
  DB_CHECK(s.cross_fit != 1, "config: '{}.cross_fit': expected 0 (off) or at least 2 folds, got 1",
           path);
  s.monitor_delta = r.get_double("monitor_delta", s.monitor_delta, 1e-9, 0.5);
  s.monitor_epoch = static_cast<std::size_t>(r.get_int("monitor_epoch", 200, 0, INT64_MAX));
  s.novel_alarm = static_cast<std::size_t>(r.get_int("novel_alarm", 1, 0, INT64_MAX));
  s.forget_on_alarm = r.get_bool("forget_on_alarm", false);
  s.memory_mode = r.get_string("memory_mode", s.memory_mode);
  DB_CHECK(s.memory_mode == "blend" || s.memory_mode == "stage",
           "config: '{}.memory_mode': expected blend or stage, got '{}'", path, s.memory_mode);
  s.memory_k = static_cast<int>(r.get_int("memory_k", s.memory_k, 1, 1000));
  s.memory_max = static_cast<std::size_t>(r.get_int("memory_max", 20000, 1, INT64_MAX));
  s.memory_refresh = static_cast<std::size_t>(r.get_int("memory_refresh", 0, 0, INT64_MAX));
  s.window = static_cast<std::size_t>(r.get_int("window", 1000, 10, INT64_MAX));
  s.window_guarantee = r.get_bool("window_guarantee", true);
  s.chunk = static_cast<std::size_t>(r.get_int("chunk", 512, 1, 1 << 20));
  if (r.has("variants")) {
    s.variants = r.get_string_list("variants", {});
    DB_CHECK(!s.variants.empty(), "config: '{}.variants': expected at least one variant", path);
    for (const std::string& v : s.variants) (void)stream_variant(v);
  }
  bool memory = false;
  for (const std::string& v : s.variants) memory = memory || stream_variant(v).memory;
  DB_CHECK(s.cross_fit == 0 || s.memory_mode != "stage" || !memory,
           "config: '{}.cross_fit': {} folds with memory_mode stage; expected cross_fit 0, "
           "memory_mode blend or no variant with memory (cross-fitted refits use no memory)",
           path, s.cross_fit);
  r.finish();
  return s;
}

StreamVariant stream_variant(const std::string& name) {
  if (name == "online") return {name, true, true, true, true};
  if (name == "online_no_memory") return {name, true, true, false, true};
  if (name == "periodic") return {name, true, false, false, true};
  if (name == "periodic_no_monitor") return {name, true, false, false, false};
  if (name == "fit_once") return {name, false, false, false, true};
  DB_THROW(
      "config: 'stream.variants': expected online, online_no_memory, periodic, "
      "periodic_no_monitor or fit_once, got '{}'",
      name);
}

}  // namespace deferbench
