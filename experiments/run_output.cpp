#include "experiments/run_output.h"

#include "experiments/expert_policy_io.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/config/compose.h"
#include "core/data/csv_reader.h"
#include "core/metrics/metrics.h"
#include "core/util/atomic_file.h"
#include "experiments/policy_io.h"
#include "experiments/report/audit_page.h"

namespace deferbench {
namespace fs = std::filesystem;

namespace {

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
    if (s.cal_u < 1.0) out.back()["test_u"] = s.cal_u;  // the randomized test's draw
  }
  return out;
}

std::string csv_number(double x) {
  return format_csv_number(x, 6);
}

nlohmann::json zoo_json(const FittedZoo& zoo, const Dataset& test) {
  nlohmann::json out = nlohmann::json::array();
  for (const Surrogate& z : zoo.members) {
    const std::vector<LabelId>& pred = z.fitted->test.front().pred;
    out.push_back({{"model", z.label},
                   {"stages", z.fitted->stages.size()},
                   {"fit_seconds", z.fitted->fit_seconds},
                   {"cached", z.cached},
                   {"test_teacher_accuracy", nan_to_json(accuracy(test.teacher, pred))},
                   {"test_teacher_macro_f1", nan_to_json(macro_f1(test.teacher, pred))},
                   {"test_gold_accuracy",
                    test.has_gold() ? nan_to_json(accuracy(test.gold, pred)) : nlohmann::json()}});
  }
  return out;
}

nlohmann::json calibration_json(const CalibrationSettings& calib) {
  return {{"mode", calib.mode},
          {"guarantee", calib.mode == "guaranteed"},
          {"delta", calib.guaranteed.delta},
          {"per_class", calib.per_class},
          {"window", calib.window},  // queries (0: about TA itself)
          {"window_spec", calib.window_test  ? std::string("test")
                          : calib.window > 0 ? fmt::format("{}", calib.window)
                                             : std::string("none")},
          {"min_accepted", calib.guaranteed.min_accepted},
          {"start", calib.start},
          {"test", calib.test},
          {"selection",
           "on val, or on out-of-fold outputs when cross-fitting (disjoint from cal), then "
           "calibrated on cal"},
          {"targets", calib.targets}};
}

}  // namespace

nlohmann::json nan_to_json(double x) {
  return std::isnan(x) ? nlohmann::json() : nlohmann::json(x);
}

std::string frontier_csv_header() {
  return "target,family,model,val_coverage,val_agreement,val_cost_per_1k,val_feasible,on_frontier,"
         "selected,"
         "cal_feasible,stage1_threshold,stage1_lower_bound,test_coverage,test_agreement,"
         "test_e2e_accuracy,test_e2e_macro_f1,test_cost_per_1k,test_aurc,test_e_aurc\n";
}

std::string frontier_csv_rows(double target, const std::vector<Candidate>& candidates,
                              const Selection& selection) {
  std::string out;
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    const Candidate& r = candidates[k];
    const bool on_front =
        std::find(selection.front.begin(), selection.front.end(), k) != selection.front.end();
    const Stage& st1 = r.on_cal.stages.front();
    out += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", target, csv_field(r.family),
        csv_field(r.model), csv_number(r.val.m.coverage), csv_number(r.val.m.teacher_agreement),
        csv_number(r.val.cost_per_1k), r.on_val.feasible ? 1 : 0, on_front ? 1 : 0,
        static_cast<std::ptrdiff_t>(k) == selection.chosen ? 1 : 0, r.on_cal.feasible ? 1 : 0,
        csv_number(st1.thresholds.size() == 1 ? st1.thresholds[0] : std::nan("")),
        csv_number(st1.lower_bound), csv_number(r.test.m.coverage),
        csv_number(r.test.m.teacher_agreement), csv_number(r.test.m.e2e_accuracy),
        csv_number(r.test.m.e2e_macro_f1), csv_number(r.test.cost_per_1k),
        csv_number(r.test_risk.aurc), csv_number(r.test_risk.e_aurc));
  }
  return out;
}

nlohmann::json target_json(double target, const std::vector<Candidate>& candidates,
                           const Selection& selection, const Deployment& deployment) {
  nlohmann::json t = {
      {"target", target}, {"candidates", candidates.size()}, {"frontier", selection.front.size()}};
  const Evaluated& e = deployment.test;
  t["deployed"] = deployment.deployed;
  t["test"] = routing_json(e.m);
  t["test"]["cost_per_1k"] = e.cost_per_1k;
  t["test"]["oracle_coverage"] = nan_to_json(deployment.oracle_coverage);
  t["test"]["efficiency"] = nan_to_json(
      deployment.oracle_coverage > 0 ? e.m.coverage / deployment.oracle_coverage : std::nan(""));
  t["test"]["certifiable_coverage"] = nan_to_json(deployment.certifiable_coverage);
  if (!deployment.diagnostic.empty()) {
    t["diagnostic"] = deployment.diagnostic;
    const auto& f = deployment.first_test;
    t["first_test"] = {{"cal_rows", f.cal_rows}, {"tests", f.tests},
                       {"accepted", f.accepted}, {"agreed", f.agreed},
                       {"needed", f.needed},     {"certifiable_coverage", f.certifiable_coverage}};
  }
  if (selection.chosen < 0) {
    t["selected"] = nullptr;
    t["note"] = "no candidate meets the target on val: every query goes to the teacher";
    return t;
  }
  const Candidate& r = candidates[static_cast<std::size_t>(selection.chosen)];
  t["selected"] = {{"family", r.family},
                   {"model", r.model},
                   {"val_coverage", nan_to_json(r.val.m.coverage)},
                   {"val_agreement", nan_to_json(r.val.m.teacher_agreement)}};
  t["stages"] = thresholds_json(r.on_cal.stages);
  t["selected"]["test_aurc"] = nan_to_json(r.test_risk.aurc);
  t["selected"]["test_e_aurc"] = nan_to_json(r.test_risk.e_aurc);
  if (!deployment.deployed)
    t["note"] =
        "the selected candidate's calibration on cal does not hold: every query goes "
        "to the teacher";
  t["test"]["handled_per_stage"] = e.handled_per_stage;
  t["test"]["agreement_per_stage"] = nlohmann::json::array();
  for (double a : e.agreement_per_stage) t["test"]["agreement_per_stage"].push_back(nan_to_json(a));
  return t;
}

nlohmann::json run_metrics(const RunPlan& plan, const PreparedData& prep, const FittedZoo& zoo,
                           const CalibrationSettings& calib, const nlohmann::json& per_target,
                           double total_seconds) {
  const RunSettings& s = plan.settings;
  return {{"experiment", s.name},
          {"dataset", prep.dataset_name},
          {"model", zoo.members.front().label},
          {"seed", s.seed},
          {"device", std::string(device_name(plan.ctx.device))},
          {"threads", plan.ctx.threads},
          {"features", prep.feature_source},
          {"feature_dim", prep.train.features.cols()},
          {"classes", prep.labels->size()},
          {"rows",
           {{"total", prep.total_rows},
            {"dropped_no_answer", prep.dropped_no_answer},
            {"train", prep.train.size()},
            {"val", prep.cross_fit_folds > 0 ? 0 : prep.val.size()},
            {"cal", prep.cal.size()},
            {"test", prep.test.size()}}},
          // Folds of the cross-fitting (0: off); when on, rows.train is the pool the folds split
          // and rows.cal includes the val split's rows that cross-fitting moved there.
          {"cross_fit_folds", prep.cross_fit_folds},
          {"cross_fit_val_rows_to_cal", prep.val_rows_calibrating},
          {"calibration", calibration_json(calib)},
          {"zoo", zoo_json(zoo, prep.test)},
          {"targets", per_target},
          // The first target's deployed policy, flat, for tables.
          {"test", per_target.front()["test"]},
          {"seconds",
           {{"load", prep.load_seconds},
            {"featurize", prep.featurize_seconds},
            {"fit", zoo.seconds},  // this run's wait for fits
            {"total", total_seconds}}}};
}

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

std::string run_audit_page(const RunOutput& out) {
  const nlohmann::json& m = out.metrics;
  report::AuditPage page;
  const std::string dataset = m.value("dataset", "");
  page.title = dataset == out.settings.name
                   ? "Audit of " + dataset
                   : fmt::format("Audit of {} on {}", out.settings.name, dataset);
  const nlohmann::json& rows = m["rows"];
  page.subtitle = fmt::format(
      "held-out test split: {} of {} rows · {} classes · features {} · seed {} · calibration {}",
      rows.value("test", 0), rows.value("total", 0), m.value("classes", 0), m.value("features", ""),
      m.value("seed", 0), m["calibration"].value("mode", ""));
  page.facts = {
      {"experiment", out.settings.name},
      {"dataset", m.value("dataset", "")},
      {"rows (train / val / cal / test)",
       fmt::format("{} / {} / {} / {}", rows.value("train", 0), rows.value("val", 0),
                   rows.value("cal", 0), rows.value("test", 0))},
      {"features",
       fmt::format("{} ({} dimensions)", m.value("features", ""), m.value("feature_dim", 0))},
      {"calibration", fmt::format("{}, δ = {}", m["calibration"].value("mode", ""),
                                  m["calibration"].value("delta", 0.0))},
      {"seed", std::to_string(m.value("seed", 0))},
      {"device · threads", fmt::format("{} · {}", m.value("device", ""), m.value("threads", 0))}};
  page.audit = out.audit;
  page.targets = m["targets"];
  page.calibration = m["calibration"];
  page.config_text = to_yaml_text(out.config);
  return report::audit_page(page);
}

void write_run_files(const RunOutput& out, const fs::path& dir, const std::string& log_text) {
  write_file_atomic(dir / "config.yaml", to_yaml_text(out.config));
  write_file_atomic(dir / "metrics.json", out.metrics.dump(2) + "\n");
  if (!out.experts_csv.empty())
    write_file_atomic(dir / "experts.csv", out.experts_csv);
  else if (!out.stream_csv.empty())
    write_file_atomic(dir / "stream.csv", out.stream_csv);
  else
    write_file_atomic(dir / "frontier.csv", out.frontier_csv);
  if (!out.audit.is_null()) {
    write_file_atomic(
        dir / "audit.json",
        out.audit.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    write_file_atomic(dir / "report.html", run_audit_page(out));
  }
  write_file_atomic(dir / "log.txt", log_text);
}

void save_run_policies(const RunOutput& out, const fs::path& dir, const fs::path& run_dir) {
  if (!out.experts_csv.empty()) {
    const PreparedData& prep = *out.prep;
    fs::create_directories(dir);
    for (const auto& [name, policy] : out.expert_policies) {
      nlohmann::json info = {{"experiment", out.settings.name},
                             {"deployment", name},
                             {"run_dir", run_dir.string()},
                             {"config_yaml", to_yaml_text(out.config)}};
      save_expert_policy(dir / name, policy, prep.featurizer.get(), *prep.labels,
                         prep.train.features.cols(), info);
    }
    return;
  }
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
    if (t.contains("diagnostic")) fmt::print("    {}\n", t["diagnostic"].get<std::string>());
  }
  fmt::print("  {:.1f} s; saved {}\n", m["seconds"]["total"].get<double>(), run_dir.string());
}

fs::path write_run_folder(const RunOutput& out, const std::string& log_text) {
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
  return run_dir;
}

void print_experts_summary(const RunOutput& out, const std::filesystem::path& run_dir) {
  const nlohmann::json& m = out.metrics;
  const auto& rows = m["rows"];
  fmt::print("{} — experts on dataset {}, seed {}; rows train {}, val {}, cal {}, test {}\n",
             out.settings.name, m["dataset"].get<std::string>(), m["seed"].get<std::uint64_t>(),
             rows["train"].get<std::size_t>(), rows["val"].get<std::size_t>(),
             rows["cal"].get<std::size_t>(), rows["test"].get<std::size_t>());
  for (const auto& c : m["experts"]["choices"])
    fmt::print("  {:<20} price/1k {:>10.4g}  test accuracy {:.3f}\n", c["name"].get<std::string>(),
               c["price_per_1k"].get<double>(), c["test_accuracy"].get<double>());
  for (const auto& b : m["budgets"]) {
    fmt::print("  budget {:g} per 1k:", b["budget_per_1k"].get<double>());
    for (const auto& [method, r] : b["methods"].items())
      if (r.is_object() && r["test_accuracy"].is_number())
        fmt::print("  {} {:.3f}", method, r["test_accuracy"].get<double>());
    fmt::print("\n");
  }
  for (const auto& g : m["guarantee"]) {
    fmt::print("  target {:g} (δ = {:g}):", g["target"].get<double>(), g["delta"].get<double>());
    for (const auto& [method, r] : g["methods"].items())
      if (r["deployed"].get<bool>())
        fmt::print("  {} {:.3f} at {:.4g}/1k", method, r["test_accuracy"].get<double>(),
                   r["test_price_per_1k"].get<double>());
      else
        fmt::print("  {} none", method);
    fmt::print("\n");
  }
  fmt::print("  → {}\n", (run_dir / "experts.csv").string());
}

void print_stream_summary(const RunOutput& out, const std::filesystem::path& run_dir) {
  const nlohmann::json& m = out.metrics;
  fmt::print("{} — stream of {} queries ({}, {}), seed {}; target {:g}\n", out.settings.name,
             m["queries"].get<std::size_t>(), m["dataset"].get<std::string>(),
             m["scenario"]["kind"].get<std::string>(), m["seed"].get<std::uint64_t>(),
             m["target"].get<double>());
  for (const auto& [name, v] : m["variants"].items()) {
    const auto& agreement = v["agreement_handled"];
    fmt::print(
        "  {:<17} teacher calls {:>8} (saved {:5.1f}%)  coverage {:.3f}  agreement {}  windows "
        "below target {}/{}  refits {}  alarms {}\n",
        name, v["teacher_calls"].get<std::size_t>(), 100 * v["calls_saved_share"].get<double>(),
        v["coverage"].get<double>(),
        agreement.is_number() ? fmt::format("{:.3f}", agreement.get<double>()) : "—",
        v["windows_below_target"].get<std::size_t>(), v["windows_with_handled"].get<std::size_t>(),
        v["refits"].size(), v["alarms"].size());
  }
  fmt::print("  → {}\n", (run_dir / "stream.csv").string());
}

}  // namespace deferbench
