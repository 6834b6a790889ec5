#include "experiments/experts_run.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "core/config/compose.h"
#include "core/data/csv_reader.h"
#include "core/data/splits.h"
#include "core/experts/expert_policy.h"
#include "core/experts/routellm_metrics.h"
#include "core/experts/routing.h"
#include "core/metrics/metrics.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "experiments/experts_rejector.h"
#include "experiments/prepare.h"

namespace deferbench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// What the choices did on one split.
struct SplitRows {
  Correctness correct;                       // choices × rows
  std::vector<std::vector<LabelId>> answer;  // choices × rows (kNoLabel: unknown)
  std::vector<LabelId> reference;
  std::size_t size() const { return reference.size(); }
};

enum Split { kTrain, kVal, kCal, kTest, kSplits };
constexpr const char* kSplitNames[kSplits] = {"train", "val", "cal", "test"};

// A method's routings at one setting, on every split but train.
struct Point {
  double setting = 0;
  std::vector<int> route[kSplits];
  RoutingOutcome outcome[kSplits];
  double test_macro_f1 = kNaN;
};

struct Curve {
  std::string method;
  std::string setting_name;   // lambda | tau | price_per_1k | choice
  std::vector<Point> points;  // safest first
  std::vector<int> cascade;   // a cascade's chain: every stage a query passes is called (paid)
};

// The surrogate on every split: its probabilities, out-of-fold on train (folds stratified by
// teacher label, seeded from the run), from the model fitted on all of train (kept: it is what a
// saved policy answers with) on the other splits.
struct SurrogateOutputs {
  Matrix proba[kSplits];
  std::shared_ptr<const Classifier> model;
};

SurrogateOutputs surrogate_outputs(const PreparedData& prep, const RunPlan& plan, int folds) {
  const Context& ctx = plan.ctx;
  SurrogateOutputs out;
  const Dataset* splits[kSplits] = {&prep.train, &prep.val, &prep.cal, &prep.test};
  const Dataset& train = prep.train;
  out.proba[kTrain] = Matrix(train.size(), prep.labels->size());
  const std::vector<int> fold =
      stratified_folds(train.teacher, folds, mix_seed(ctx.seed, 0xe8be75f0));
  for (int k = 0; k < folds; ++k) {
    std::vector<std::size_t> in, held;
    for (std::size_t i = 0; i < train.size(); ++i) (fold[i] == k ? held : in).push_back(i);
    if (held.empty()) continue;
    auto model = plan.factory(plan.settings.model, "model");
    model->fit(train.subset(in), nullptr, ctx.derive(0x5000 + static_cast<std::uint64_t>(k)));
    const Matrix p = model->predict_proba(train.subset(held).features, ctx);
    for (std::size_t r = 0; r < held.size(); ++r)
      std::copy_n(p.row(r), p.cols(), out.proba[kTrain].row(held[r]));
  }
  auto model = plan.factory(plan.settings.model, "model");
  model->fit(train, nullptr, ctx.derive(0x5fff));
  for (int s = kVal; s < kSplits; ++s)
    out.proba[s] = model->predict_proba(splits[s]->features, ctx);
  out.model = std::move(model);
  return out;
}

// P̂(choice j wrong | x) on every split from one estimator per choice fitted on train (a choice
// right or wrong on every training row gets that constant).
struct Estimates {
  std::vector<std::vector<std::vector<float>>> wrong;     // split × choice × row
  std::vector<std::shared_ptr<const Classifier>> models;  // per choice (null: constant)
  std::vector<double> constant;                           // per choice, where the model is null
};

Estimates wrong_estimates(const Matrix (&inputs)[kSplits], const RunPlan& plan,
                          const ExpertsSettings& es, const SplitRows (&rows)[kSplits]) {
  const std::size_t k = rows[kTrain].correct.size();
  auto space = std::make_shared<const LabelSpace>(std::vector<std::string>{"right", "wrong"});
  const LabelId wrong = space->id("wrong");
  DB_ASSERT(wrong == kWrongClass);
  Estimates out;
  out.models.resize(k);
  out.constant.assign(k, 0.0);
  auto& est = out.wrong;
  est.assign(kSplits, std::vector<std::vector<float>>(k));
  for (std::size_t j = 0; j < k; ++j) {
    Dataset d;
    d.features = inputs[kTrain];
    d.labels = space;
    std::size_t n_wrong = 0;
    for (std::uint8_t c : rows[kTrain].correct[j]) {
      d.teacher.push_back(c ? space->id("right") : wrong);
      n_wrong += c ? 0 : 1;
    }
    if (n_wrong == 0 || n_wrong == d.size()) {
      const float v = n_wrong == 0 ? 0.0f : 1.0f;
      out.constant[j] = v;
      for (int s = 0; s < kSplits; ++s) est[s][j].assign(inputs[s].rows(), v);
      continue;
    }
    auto model = plan.factory(es.estimator, "experts.estimator");
    model->fit(d, nullptr, plan.ctx.derive(0x6000 + j));
    for (int s = 0; s < kSplits; ++s) {
      const Matrix p = model->predict_proba(inputs[s], plan.ctx);
      est[s][j].resize(p.rows());
      for (std::size_t i = 0; i < p.rows(); ++i)
        est[s][j][i] = p(i, static_cast<std::size_t>(wrong));
    }
    out.models[j] = std::move(model);
  }
  return out;
}

Matrix expected_costs(const std::vector<std::vector<float>>& wrong,
                      const std::vector<ChoiceCost>& choices, double lambda) {
  const std::size_t n = wrong.front().size(), k = choices.size();
  Matrix m(n, k);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < k; ++j)
      m(i, j) = static_cast<float>(choices[j].alpha * wrong[j][i] + lambda * choices[j].beta);
  return m;
}

std::vector<int> cheapest_everywhere(std::size_t rows, const std::vector<ChoiceCost>& choices) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < choices.size(); ++j)
    if (choices[j].beta < choices[best].beta) best = j;
  return std::vector<int>(rows, static_cast<int>(best));
}

void measure(Point& p, const SplitRows (&rows)[kSplits], const std::vector<ChoiceCost>& choices,
             const std::vector<bool>& has_answers) {
  for (int s = kVal; s < kSplits; ++s)
    p.outcome[s] = routing_outcome(p.route[s], rows[s].correct, choices, 1.0);
  const std::vector<int>& route = p.route[kTest];
  bool known = true;
  std::vector<LabelId> pred(route.size());
  for (std::size_t i = 0; i < route.size() && known; ++i) {
    const auto j = static_cast<std::size_t>(route[i]);
    known = has_answers[j];
    pred[i] = known ? rows[kTest].answer[j][i] : kNoLabel;
  }
  p.test_macro_f1 = known && !route.empty() ? macro_f1(rows[kTest].reference, pred) : kNaN;
}

double per_1k(double price) {
  return 1000.0 * price;
}

std::string num(double x) {
  return format_csv_number(x, 6);
}

nlohmann::json point_json(const Curve& c, std::ptrdiff_t t) {
  if (t < 0) return nullptr;
  const Point& p = c.points[static_cast<std::size_t>(t)];
  return {{c.setting_name, p.setting},
          {"val_accuracy", p.outcome[kVal].accuracy},
          {"val_price_per_1k", per_1k(p.outcome[kVal].price_per_query)},
          {"cal_accuracy", p.outcome[kCal].accuracy},
          {"test_accuracy", p.outcome[kTest].accuracy},
          {"test_macro_f1", nan_to_json(p.test_macro_f1)},
          {"test_price_per_1k", per_1k(p.outcome[kTest].price_per_query)}};
}

}  // namespace

RunOutput compute_experts_run(const YAML::Node& config, const RunOptions& options) {
  const auto t_start = RunClock::now();
  const RunPlan plan = plan_run(config, options);
  const RunSettings& s = plan.settings;
  check_output_folder(s.results_dir / s.name, "results_dir");
  if (!s.save_policy.empty()) check_output_folder(s.save_policy, "save_policy", true);
  const ExpertsSettings es = ExpertsSettings::from_yaml(s.experts, "experts");

  // The data: the experts' columns kept beside the traces, the configured splits (no
  // cross-fitting: the surrogate's out-of-fold answers are computed here).
  RunSettings ds = s;
  ds.pipeline.cross_fit_folds = 0;
  ds.pipeline.acceptor.knn = 0;
  ds.pipeline.ood_k = 0;
  ds.dataset = YAML::Clone(s.dataset);
  for (const char* format : {"csv", "jsonl"})
    if (ds.dataset["format"] && ds.dataset["format"].as<std::string>() == format) {
      YAML::Node fields = ds.dataset[format]["fields"];
      std::set<std::string> have;
      if (fields.IsSequence())
        for (const auto& f : fields) have.insert(f.as<std::string>());
      for (const ExpertSpec& e : es.experts)
        if (have.insert(e.column).second) ds.dataset[format]["fields"].push_back(e.column);
    }
  RunOutput out;
  out.prep = std::make_shared<const PreparedData>(prepare_data(ds, plan.ctx, false));
  const PreparedData& prep = *out.prep;
  const Dataset* splits[kSplits] = {&prep.train, &prep.val, &prep.cal, &prep.test};

  // The choices: the surrogate (when on), then the experts in config order.
  std::vector<std::string> names;
  std::vector<ChoiceCost> choices;
  std::vector<bool> has_answers;
  if (es.surrogate) {
    names.push_back("surrogate");
    choices.push_back(es.surrogate_cost);
    has_answers.push_back(true);
  }
  for (const ExpertSpec& e : es.experts) {
    names.push_back(e.name);
    choices.push_back(e.cost);
    has_answers.push_back(e.kind == ExpertColumnKind::kAnswer);
  }
  const auto t_fit = RunClock::now();
  SplitRows rows[kSplits];
  for (int sp = 0; sp < kSplits; ++sp) {
    ExpertRows er = read_expert_rows(*splits[sp], es.experts, es.reference);
    rows[sp].reference = std::move(er.reference);
    rows[sp].correct = std::move(er.correct);
    rows[sp].answer = std::move(er.answer);
  }
  // What the estimators and the rejector see of a query: its features, and with the surrogate
  // on, the summary of the surrogate's probabilities (a function of x the two-stage setting
  // allows: the main model is fixed before the rejector is learnt).
  Matrix inputs[kSplits];
  SurrogateOutputs sur;
  if (es.surrogate) {
    sur = surrogate_outputs(prep, plan, es.folds);
    for (int sp = 0; sp < kSplits; ++sp) {
      const std::vector<LabelId> answer = argmax_rows(sur.proba[sp]);
      std::vector<std::uint8_t> right(rows[sp].size());
      for (std::size_t i = 0; i < right.size(); ++i)
        right[i] = answer[i] == rows[sp].reference[i] ? 1 : 0;
      rows[sp].correct.insert(rows[sp].correct.begin(), std::move(right));
      rows[sp].answer.insert(rows[sp].answer.begin(), answer);
      inputs[sp] = with_surrogate_summary(splits[sp]->features, sur.proba[sp]);
    }
  } else {
    for (int sp = 0; sp < kSplits; ++sp) inputs[sp] = splits[sp]->features;
  }
  const std::size_t k = choices.size();
  const std::vector<double> lambdas = lambda_grid(es, choices);
  const bool wants = [&] {
    for (const std::string& m : es.methods)
      if (m == "bayes_plugin" || m == "cascade") return true;
    return false;
  }();
  Estimates estimates;
  if (wants) estimates = wrong_estimates(inputs, plan, es, rows);
  const auto& wrong = estimates.wrong;
  std::vector<std::shared_ptr<const Classifier>> rejectors;  // two_stage: per λ (null: none)
  std::vector<ChosenRejector> rejector_choice;               // two_stage: per λ

  std::vector<Curve> curves;
  auto finish = [&](Curve& c) {
    for (Point& p : c.points) {
      measure(p, rows, choices, has_answers);
      if (c.cascade.empty()) continue;
      for (int sp = kVal; sp < kSplits; ++sp) {  // the stages passed are paid too
        const CascadeCalls cc = cascade_calls(p.route[sp], c.cascade, choices);
        RoutingOutcome& o = p.outcome[sp];
        o.cost_per_query += cc.price_per_query - o.price_per_query;
        o.price_per_query = cc.price_per_query;
        o.calls = cc.calls;
      }
    }
    curves.push_back(std::move(c));
  };
  // Single choices (one point each; not a curve).
  Curve singles{"single", "choice", {}, {}};
  for (std::size_t j = 0; j < k; ++j) {
    Point p;
    p.setting = static_cast<double>(j);
    for (int sp = kVal; sp < kSplits; ++sp)
      p.route[sp].assign(rows[sp].size(), static_cast<int>(j));
    singles.points.push_back(std::move(p));
  }
  for (Point& p : singles.points) measure(p, rows, choices, has_answers);

  for (const std::string& method : es.methods) {
    Curve c{method, "lambda", {}, {}};
    if (method == "bayes_plugin") {
      for (double lambda : lambdas) {
        Point p;
        p.setting = lambda;
        for (int sp = kVal; sp < kSplits; ++sp)
          p.route[sp] = route_by_cost(expected_costs(wrong[sp], choices, lambda), choices);
        c.points.push_back(std::move(p));
      }
    } else if (method == "two_stage") {
      for (std::size_t t = 0; t < lambdas.size(); ++t) {
        Point p;
        p.setting = lambdas[t];
        ChosenRejector chosen =
            choose_rejector(es.rejectors, inputs[kTrain], rows[kTrain].correct, inputs[kVal],
                            rows[kVal].correct, choices, lambdas[t], plan.ctx, 0x7000 + t);
        const std::shared_ptr<const Classifier> rejector = chosen.model;
        rejectors.push_back(rejector);
        rejector_choice.push_back(std::move(chosen));
        for (int sp = kVal; sp < kSplits; ++sp) {
          if (!rejector) {
            p.route[sp] = cheapest_everywhere(rows[sp].size(), choices);
            continue;
          }
          const std::vector<LabelId> r = rejector->predict(inputs[sp], plan.ctx);
          p.route[sp].assign(r.begin(), r.end());
        }
        c.points.push_back(std::move(p));
      }
    } else if (method == "cascade") {
      c.setting_name = "tau";
      // The chain: the choices no other beats on val at no higher price (a dominated choice
      // would only be a worse last resort), cheapest first.
      std::vector<int> order;
      for (std::size_t j = 0; j < k; ++j) {
        const double aj = singles.points[j].outcome[kVal].accuracy;
        bool dominated = false;
        for (std::size_t i = 0; i < k && !dominated; ++i) {
          const double ai = singles.points[i].outcome[kVal].accuracy;
          dominated = i != j && choices[i].beta <= choices[j].beta && ai >= aj &&
                      (choices[i].beta < choices[j].beta || ai > aj || i < j);
        }
        if (!dominated) order.push_back(static_cast<int>(j));
      }
      std::stable_sort(order.begin(), order.end(),
                       [&](int a, int b) { return choices[a].beta < choices[b].beta; });
      std::vector<std::vector<std::vector<float>>> accept(kSplits);
      for (int sp = kVal; sp < kSplits; ++sp) {
        accept[sp] = wrong[sp];
        for (auto& v : accept[sp])
          for (float& x : v) x = 1.0f - x;
      }
      const int n = std::max(2, es.lambda_points);
      for (int t = 0; t < n; ++t) {
        Point p;
        // τ from just above 1 (nothing stops early: the dearest choice answers everything) to 0.
        p.setting = t == 0 ? 1.0 + 1e-6 : 1.0 - static_cast<double>(t) / (n - 1);
        for (int sp = kVal; sp < kSplits; ++sp)
          p.route[sp] = route_cascade(accept[sp], order, p.setting);
        c.points.push_back(std::move(p));
      }
      c.cascade = order;
    } else if (method == "random") {
      c.setting_name = "price_per_1k";
      std::vector<MixturePoint> pts;
      for (std::size_t j = 0; j < k; ++j)
        pts.push_back(
            {static_cast<int>(j), choices[j].beta, singles.points[j].outcome[kVal].accuracy});
      const std::vector<MixturePoint> hull = mixture_hull(pts);
      const int n = std::max(2, es.lambda_points);
      for (int t = 0; t < n; ++t) {
        Point p;
        const double price =
            hull.back().price + (hull.front().price - hull.back().price) * t / (n - 1);
        p.setting = per_1k(price);
        for (int sp = kVal; sp < kSplits; ++sp)
          p.route[sp] = route_random_at_price(hull, price, rows[sp].size(),
                                              mix_seed(plan.ctx.seed, 0xa11d0 + 16 * t + sp));
        c.points.push_back(std::move(p));
      }
    }
    finish(c);
  }
  const double fit_seconds = seconds_since(t_fit);
  const std::vector<CostAccuracyPoint> oracle = oracle_frontier(rows[kTest].correct, choices);

  // experts.csv: every point of every curve, the single choices and the oracle frontier.
  std::string csv =
      "method,point,setting,val_price_per_1k,val_accuracy,cal_accuracy,test_price_per_1k,"
      "test_accuracy,test_macro_f1";
  for (const std::string& n : names) csv += ",test_calls_" + csv_field(n);
  csv += "\n";
  auto csv_point = [&](const std::string& method, std::size_t t, const Point& p) {
    csv += fmt::format("{},{},{},{},{},{},{},{},{}", method, t, num(p.setting),
                       num(per_1k(p.outcome[kVal].price_per_query)), num(p.outcome[kVal].accuracy),
                       num(p.outcome[kCal].accuracy), num(per_1k(p.outcome[kTest].price_per_query)),
                       num(p.outcome[kTest].accuracy), num(p.test_macro_f1));
    for (std::size_t j = 0; j < k; ++j)
      csv += "," + num(static_cast<double>(p.outcome[kTest].calls[j]) /
                       static_cast<double>(std::max<std::size_t>(1, rows[kTest].size())));
    csv += "\n";
  };
  for (std::size_t j = 0; j < k; ++j) csv_point("single:" + names[j], j, singles.points[j]);
  for (const Curve& c : curves)
    for (std::size_t t = 0; t < c.points.size(); ++t) csv_point(c.method, t, c.points[t]);
  // The oracle frontier has a point per row bought: at most 201 of them, evenly spaced, the
  // ends kept (enough for a plot; the budgets read the full frontier).
  const std::size_t stride = std::max<std::size_t>(1, (oracle.size() + 199) / 200);
  for (std::size_t t = 0, row = 0; t < oracle.size(); ++t) {
    if (t % stride != 0 && t + 1 != oracle.size()) continue;
    csv += fmt::format("oracle,{},,,,,{},{},", row++, num(per_1k(oracle[t].price_per_query)),
                       num(oracle[t].accuracy));
    for (std::size_t j = 0; j < k; ++j) csv += ",";
    csv += "\n";
  }
  out.experts_csv = csv;

  // metrics.json.
  nlohmann::json m;
  m["name"] = s.name;
  m["kind"] = "experts";
  m["dataset"] = prep.dataset_name;
  m["seed"] = s.seed;
  m["device"] = std::string(device_name(plan.ctx.device));
  m["rows"] = {{"total", prep.total_rows},       {"train", prep.train.size()},
               {"val", prep.val.size()},         {"cal", prep.cal.size()},
               {"test", prep.test.size()},       {"classes", prep.labels->size()},
               {"features", prep.feature_source}};
  nlohmann::json cj = nlohmann::json::array();
  for (std::size_t j = 0; j < k; ++j) {
    const bool sur = es.surrogate && j == 0;
    const ExpertSpec* e = sur ? nullptr : &es.experts[j - (es.surrogate ? 1 : 0)];
    cj.push_back({{"name", names[j]},
                  {"column", sur ? std::string() : e->column},
                  {"kind", sur ? "surrogate"
                               : (e->kind == ExpertColumnKind::kAnswer ? "answer" : "correctness")},
                  {"alpha", choices[j].alpha},
                  {"beta", choices[j].beta},
                  {"val_accuracy", singles.points[j].outcome[kVal].accuracy},
                  {"test_accuracy", singles.points[j].outcome[kTest].accuracy},
                  {"test_macro_f1", nan_to_json(singles.points[j].test_macro_f1)},
                  {"price_per_1k", per_1k(choices[j].beta)}});
  }
  m["experts"] = {
      {"reference", es.reference},
      {"surrogate", es.surrogate},
      {"methods", es.methods},
      {"lambdas", lambdas},
      {"delta", es.delta},
      {"folds", es.folds},
      {"estimator", to_yaml_text(es.estimator)},
      // The spec fitted (a grid's base when it has more than one).
      {"rejector", to_yaml_text(es.rejectors.size() == 1 ? es.rejectors.front() : es.rejector)},
      {"choices", cj}};
  DB_ASSERT(rejector_choice.empty() || rejector_choice.size() == lambdas.size());
  if (es.rejectors.size() > 1 && !rejector_choice.empty()) {  // the grid's choice at each λ
    nlohmann::json specs = nlohmann::json::array(), chosen = nlohmann::json::array();
    for (const YAML::Node& spec : es.rejectors) specs.push_back(to_yaml_text(spec));
    for (std::size_t t = 0; t < rejector_choice.size(); ++t) {
      nlohmann::json costs = nlohmann::json::array();
      for (double c : rejector_choice[t].val_cost) costs.push_back(nan_to_json(c));
      chosen.push_back({{"lambda", lambdas[t]},
                        {"spec", rejector_choice[t].model ? nlohmann::json(rejector_choice[t].spec)
                                                          : nlohmann::json(nullptr)},
                        {"val_cost", costs}});
    }
    m["experts"]["rejector_grid"] = {{"specs", specs}, {"chosen", chosen}};
  }
  // The policies a deployment would route with (bayes_plugin and two_stage: the learned ones),
  // for save_policy: named <method>_budget_<B> / <method>_target_<A>.
  auto deploy = [&](const Curve& c, std::ptrdiff_t t, const std::string& name) {
    if (t < 0 || (c.method != kBayesPlugin && c.method != kTwoStage)) return;
    ExpertPolicy p;
    p.method = c.method;
    p.names = names;
    p.choices = choices;
    p.lambda = c.points[static_cast<std::size_t>(t)].setting;
    p.has_surrogate = es.surrogate;
    p.surrogate = sur.model;
    p.surrogate_features = es.surrogate;
    if (c.method == kBayesPlugin) {
      p.estimators = estimates.models;
      p.constant_wrong = estimates.constant;
    } else {
      p.rejector = rejectors[static_cast<std::size_t>(t)];
      if (!p.rejector) return;  // no training row carried a cost: nothing learnt
    }
    out.expert_policies.emplace_back(name, std::move(p));
  };
  nlohmann::json budgets = nlohmann::json::array();
  for (double b : es.budgets) {
    nlohmann::json entry{{"budget_per_1k", b}};
    auto pick = [&](const Curve& c) {
      std::vector<double> price, acc;
      for (const Point& p : c.points) {
        price.push_back(per_1k(p.outcome[kVal].price_per_query));
        acc.push_back(p.outcome[kVal].accuracy);
      }
      const std::ptrdiff_t t = pick_within_budget(price, acc, b + 1e-9);
      deploy(c, t, fmt::format("{}_budget_{}", c.method, b));
      return point_json(c, t);
    };
    entry["methods"]["single"] = pick(singles);
    for (const Curve& c : curves) entry["methods"][c.method] = pick(c);
    double best = kNaN;
    for (const CostAccuracyPoint& o : oracle)
      if (per_1k(o.price_per_query) <= b + 1e-9 && !(o.accuracy <= best)) best = o.accuracy;
    entry["methods"]["oracle"] = {{"test_accuracy", nan_to_json(best)}};
    budgets.push_back(std::move(entry));
  }
  m["budgets"] = budgets;
  nlohmann::json guarantee = nlohmann::json::array();
  for (double target : es.targets) {
    nlohmann::json entry{{"target", target}, {"delta", es.delta}};
    for (const Curve& c : curves) {
      std::vector<std::size_t> right;
      for (const Point& p : c.points)
        right.push_back(static_cast<std::size_t>(
            std::llround(p.outcome[kCal].accuracy * static_cast<double>(rows[kCal].size()))));
      const FixedSequence fs = fixed_sequence(right, rows[kCal].size(), target, es.delta);
      deploy(c, fs.deployed, fmt::format("{}_target_{}", c.method, target));
      nlohmann::json r = point_json(c, fs.deployed);
      if (r.is_null()) r = nlohmann::json::object();
      r["deployed"] = fs.deployed >= 0;
      r["tests"] = fs.tests;
      r["violated"] = fs.deployed >= 0 ? nlohmann::json(r["test_accuracy"].get<double>() < target)
                                       : nlohmann::json(nullptr);
      entry["methods"][c.method] = r;
    }
    guarantee.push_back(std::move(entry));
  }
  m["guarantee"] = guarantee;
  // RouteLLM's view when two choices remain: performance against the share of calls to the
  // dearer (strong) one.
  if (k == 2 && choices[0].beta != choices[1].beta) {
    const std::size_t strong = choices[1].beta > choices[0].beta ? 1 : 0, weak = 1 - strong;
    const double wa = singles.points[weak].outcome[kTest].accuracy;
    const double sa = singles.points[strong].outcome[kTest].accuracy;
    nlohmann::json rl{{"weak", names[weak]},
                      {"strong", names[strong]},
                      {"weak_accuracy", wa},
                      {"strong_accuracy", sa}};
    if (wa != sa)
      for (const Curve& c : curves) {
        std::vector<ShareCurvePoint> curve;
        for (const Point& p : c.points)
          curve.push_back({static_cast<double>(p.outcome[kTest].calls[strong]) /
                               static_cast<double>(std::max<std::size_t>(1, rows[kTest].size())),
                           p.outcome[kTest].accuracy});
        rl["methods"][c.method] = {{"apgr", apgr(curve, wa, sa)},
                                   {"cpt50", nan_to_json(cpt(curve, wa, sa, 0.5))},
                                   {"cpt80", nan_to_json(cpt(curve, wa, sa, 0.8))}};
      }
    m["routellm"] = rl;
  }
  m["seconds"] = {{"load", prep.load_seconds},
                  {"featurize", prep.featurize_seconds},
                  {"fit", fit_seconds},
                  {"total", seconds_since(t_start)}};
  out.metrics = std::move(m);
  out.config = clone(config);
  out.settings = s;
  return out;
}

}  // namespace deferbench
