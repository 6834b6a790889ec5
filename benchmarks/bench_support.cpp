#include "benchmarks/bench_support.h"

#include <malloc.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <numeric>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "core/data/csv_reader.h"
#include "core/data/npy.h"
#include "core/data/synthetic.h"
#include "core/routing/families.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "models/backend.h"
#include "models/registry.h"

#ifndef DEFERBENCH_SHARED_DATA_DIR
#define DEFERBENCH_SHARED_DATA_DIR "../shared/data"
#endif

namespace deferbench::bench {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

namespace {

long parse_long(const std::string& flag, const std::string& value, long lo, long hi) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  DB_CHECK(!value.empty() && end == value.c_str() + value.size() && v >= lo && v <= hi,
           "{}: expected an integer in [{}, {}], got '{}'", flag, lo, hi, value);
  return v;
}

}  // namespace

const char* BenchOptions::usage() {
  return "deferbench_bench [own flags] [Google Benchmark flags]\n"
         "  --tiny               tiny data, every benchmark one iteration (the smoke test);\n"
         "                       also DEFERBENCH_BENCH_TINY=1\n"
         "  --threads N          threads for deferbench (default: all cores)\n"
         "  --fit-scales 1,10,100  fit benchmarks at 10k rows × each scale (default 1)\n"
         "  --scale              also register the 1M-row memory benchmarks (scale/...)\n"
         "  --scale-rows N       rows of the scale set (default 1048576)\n"
         "  --scale-file F       where the scale set is cached (default: temp dir)\n"
         "  --data-dir D         shared data folder (banking77 texts in D/banking77/)\n"
         "  --models a,b         zoo keys to register (default: all)\n"
         "  --model KEY=SPEC     one more model (repeatable), e.g.\n"
         "                       'lr8k=name: logreg, batch_rows: 8192'\n"
         "Google Benchmark flags: --benchmark_filter=REGEX, --benchmark_min_time=S,\n"
         "  --benchmark_repetitions=N, --benchmark_out=F --benchmark_out_format=json, "
         "--benchmark_list_tests\n";
}

BenchOptions BenchOptions::parse(int* argc, char** argv) {
  BenchOptions o;
  if (const char* env = std::getenv("DEFERBENCH_BENCH_TINY"))
    o.tiny = std::string_view(env) == "1" || std::string_view(env) == "true";
  o.data_dir = DEFERBENCH_SHARED_DATA_DIR;
  std::vector<char*> keep{argv[0]};
  for (int i = 1; i < *argc; ++i) {
    std::string arg = argv[i];
    std::string flag = arg, value;
    const bool has_eq = arg.find('=') != std::string::npos;
    if (has_eq) {
      flag = arg.substr(0, arg.find('='));
      value = arg.substr(arg.find('=') + 1);
    }
    auto need_value = [&]() {
      if (has_eq) return;
      DB_CHECK(i + 1 < *argc, "{} needs a value", flag);
      value = argv[++i];
    };
    if (flag == "--tiny") {
      o.tiny = true;
    } else if (flag == "--scale") {
      o.scale = true;
    } else if (flag == "--threads") {
      need_value();
      o.threads = static_cast<int>(parse_long(flag, value, 0, 4096));
    } else if (flag == "--fit-scales") {
      need_value();
      o.fit_scales.clear();
      for (const std::string& s : split_commas(value))
        o.fit_scales.push_back(static_cast<int>(parse_long(flag, s, 1, 1000)));
    } else if (flag == "--scale-rows") {
      need_value();
      o.scale_rows = static_cast<std::size_t>(parse_long(flag, value, 1, 1L << 34));
    } else if (flag == "--scale-file") {
      need_value();
      o.scale_file = value;
    } else if (flag == "--data-dir") {
      need_value();
      o.data_dir = value;
    } else if (flag == "--models") {
      need_value();
      o.only = split_commas(value);
    } else if (flag == "--model") {
      need_value();
      const std::size_t eq = value.find('=');
      DB_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < value.size(),
               "--model: expected KEY=SPEC, got '{}'", value);
      o.extra_models.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else if (flag == "--help" || flag == "-h") {
      std::fputs(usage(), stdout);
      keep.push_back(argv[i]);  // Google Benchmark prints its own help too
    } else {
      keep.push_back(argv[i]);
    }
  }
  for (std::size_t i = 0; i < keep.size(); ++i) argv[i] = keep[i];
  *argc = static_cast<int>(keep.size());
  o.threads = resolve_threads(o.threads);
  if (o.fit_scales.empty()) o.fit_scales = {1};
  if (o.tiny && o.scale_rows == (1u << 20)) o.scale_rows = 4096;
  if (o.scale_file.empty())
    o.scale_file = std::filesystem::temp_directory_path() /
                   fmt::format("deferbench_scale_{}x256.npy", o.scale_rows);
  return o;
}

namespace {

// The benchmark's model table: every registered model (builtin_models(), in registration order)
// with the registry's parameter defaults, each followed by the benchmark's variants of it. Only
// benchmark settings live here: the variants, and what tiny mode shrinks (sizes) so that a smoke
// fit is quick.
std::vector<std::pair<std::string, YAML::Node>> model_table(bool tiny) {
  static const std::map<std::string, std::string> kTiny = {{"logreg", "max_iter: 20"},
                                                           {"mlp_1h", "max_epochs: 2"},
                                                           {"mlp_2h", "max_epochs: 2"},
                                                           {"dt", "max_depth: 6"},
                                                           {"rf", "n_trees: 4, warm_trees: 1"},
                                                           {"et", "n_trees: 4, warm_trees: 1"},
                                                           {"gbt", "n_rounds: 3, warm_rounds: 1"},
                                                           {"xgb", "n_rounds: 3"}};
  struct Variant {
    const char* key;
    const char* model;
    const char* overrides;
  };
  static const Variant kVariants[] = {{"logreg_c10", "logreg", "C: 10"}};
  auto spec_of = [&](const std::string& model, const std::string& overrides) {
    YAML::Node spec(YAML::NodeType::Map);
    spec["name"] = model;
    // The registry's defaults, spelled out (empty for a model this build cannot make).
    for (const auto& kv : params_to_yaml(builtin_models().params(model)))
      spec[kv.first.Scalar()] = kv.second;
    auto apply = [&](const std::string& text) {
      if (text.empty()) return;
      for (const auto& kv : YAML::Load("{" + text + "}")) spec[kv.first.Scalar()] = kv.second;
    };
    apply(overrides);
    auto t = kTiny.find(model);
    if (tiny && t != kTiny.end()) apply(t->second);
    return spec;
  };
  std::vector<std::pair<std::string, YAML::Node>> rows;
  for (const std::string& model : builtin_models().names_in_order()) {
    rows.emplace_back(model, spec_of(model, ""));
    for (const Variant& v : kVariants)
      if (model == v.model) rows.emplace_back(v.key, spec_of(model, v.overrides));
  }
  return rows;
}

}  // namespace

std::vector<ZooModel> zoo_models(const BenchOptions& options, std::vector<std::string>* skipped) {
  const std::vector<std::string>& only = options.only;
  const std::vector<std::pair<std::string, YAML::Node>> rows = model_table(options.tiny);
  for (const std::string& key : only) {
    bool known = false;
    for (const auto& r : rows) known |= key == r.first;
    for (const auto& extra : options.extra_models) known |= key == extra.first;
    if (!known) {
      std::string keys;
      for (const auto& r : rows) keys += (keys.empty() ? "" : ", ") + r.first;
      DB_THROW("--models: unknown model key '{}'; known: {}", key, keys);
    }
  }
  std::vector<ZooModel> out;
  for (const auto& [key, spec] : rows) {
    if (!only.empty() && std::find(only.begin(), only.end(), key) == only.end()) continue;
    try {
      builtin_models().make(spec, "bench");  // construction only: says whether it exists
    } catch (const Error& e) {
      if (skipped) skipped->push_back(fmt::format("{}: {}", key, e.what()));
      continue;
    }
    out.push_back({key, spec});
  }
  for (const auto& [key, text] : options.extra_models) {
    YAML::Node spec;
    try {
      spec = YAML::Load(
          text.front() == '{' || text.find(':') == std::string::npos ? text : "{" + text + "}");
      if (spec.IsScalar()) {
        const std::string name = spec.Scalar();
        spec = YAML::Node(YAML::NodeType::Map);
        spec["name"] = name;
      }
      builtin_models().make(spec, "--model " + key);
    } catch (const std::exception& e) {
      if (skipped) skipped->push_back(fmt::format("{}: {}", key, e.what()));
      continue;
    }
    out.push_back({key, spec});
  }
  return out;
}

Context make_context(Device device, int threads) {
  return deferbench::make_context(device, 0, std::max(1, threads));
}

Dataset synthetic_dataset(std::size_t rows, std::size_t dim, std::size_t classes,
                          std::uint64_t seed) {
  SyntheticOptions o;
  o.rows = rows;
  o.dim = dim;
  o.classes = classes;
  o.separation = kSyntheticSeparation;
  o.confusable_pairs = std::min<std::size_t>(3, classes / 2);
  Traces t = generate_synthetic(o, seed);
  // Every class id, whether or not a small sample drew it: the models see one label space.
  std::vector<std::string> names;
  for (std::size_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  auto labels = std::make_shared<const LabelSpace>(names);
  Dataset d = to_dataset(std::move(t), labels);
  // Only features and labels matter here; drop the per-row strings (1M ids are 30+ MB).
  d.ids = {};
  d.texts = {};
  d.slices = {};
  d.times = {};
  d.gold = {};
  return d;
}

Dataset slice(const Dataset& d, std::size_t begin, std::size_t end) {
  DB_ASSERT(begin <= end && end <= d.size());
  Dataset s;
  s.labels = d.labels;
  s.features = Matrix::copy_of(d.features.view().slice_rows(begin, end));
  s.teacher.assign(d.teacher.begin() + static_cast<std::ptrdiff_t>(begin),
                   d.teacher.begin() + static_cast<std::ptrdiff_t>(end));
  return s;
}

FittedPolicy fit_policy(const YAML::Node& spec, const Dataset& train, const Dataset& val,
                        const Dataset& cal, const Context& ctx) {
  FamilyOptions options;
  options.families = {"l2d"};
  options.acceptor.knn = 0;  // the acceptor of the probability summaries (as the Python side)
  const ModelFactory factory = [](const YAML::Node& s, const std::string& path) {
    return builtin_models().make(s, path);
  };
  const auto t0 = Clock::now();
  std::vector<FittedStage> fitted = fit_cascade(spec, 1, train, val, cal, options, factory, ctx);
  BuiltPolicy built = build_policy("l2d", fitted, val, cal, kTarget, CalibrationSettings{}, options,
                                   CalibrateOn::kCal, ctx.seed);
  FittedPolicy p;
  p.fit_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  p.stages = std::move(built.stages);
  p.feasible = built.feasible;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / fmt::format("deferbench_bench_{}", ::getpid());
  save_stage(p.stages.at(0), dir);
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".bin") p.model_bytes += std::filesystem::file_size(e.path());
  std::filesystem::remove_all(dir);
  return p;
}

void save_stage(const Stage& stage, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  stage.surrogate->save(dir / "surrogate.bin");
  int constant = 1;
  if (stage.acceptor) {
    constant = stage.acceptor->constant();
    if (const Classifier* m = stage.acceptor->model()) m->save(dir / "acceptor.bin");
  }
  std::ofstream meta(dir / "stage.txt");
  meta.precision(17);
  meta << (stage.acceptor ? 1 : 0) << ' ' << constant << ' ' << stage.thresholds.size();
  for (double t : stage.thresholds) meta << ' ' << t;
  meta << '\n';
  DB_CHECK(meta.good(), "bench: cannot write {}", (dir / "stage.txt").string());
}

std::vector<Stage> load_stage(const std::filesystem::path& dir) {
  std::ifstream meta(dir / "stage.txt");
  int has_acceptor = 0, constant = 0;
  std::size_t n = 0;
  meta >> has_acceptor >> constant >> n;
  DB_CHECK(meta.good(), "bench: cannot read {}", (dir / "stage.txt").string());
  Stage s;
  for (std::size_t i = 0; i < n; ++i) {
    std::string t;
    meta >> t;  // "inf" / "-inf" are valid for strtod, not for operator>>
    s.thresholds.push_back(std::strtod(t.c_str(), nullptr));
  }
  s.surrogate = builtin_models().load(dir / "surrogate.bin");
  if (has_acceptor) {
    std::unique_ptr<Classifier> model;
    if (constant < 0) model = builtin_models().load(dir / "acceptor.bin");
    s.acceptor = std::make_shared<Acceptor>(std::move(model), constant);
  }
  return {s};
}

namespace {
std::vector<std::function<void()>>& releases() {
  static std::vector<std::function<void()>> r;
  return r;
}
}  // namespace

void on_release(std::function<void()> release) {
  releases().push_back(std::move(release));
}

void release_fixtures() {
  for (auto it = releases().rbegin(); it != releases().rend(); ++it) (*it)();
  releases().clear();
}

std::size_t current_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return out.good();
}

void trim_heap() {
  ::malloc_trim(0);
}

namespace {

// Best-of-reps bytes/s of `pass` (which touches `bytes` bytes).
template <class Pass>
double best_rate(std::size_t bytes, int reps, Pass pass) {
  double best = 0;
  for (int r = 0; r < std::max(1, reps); ++r) {
    const auto t0 = Clock::now();
    pass();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0) best = std::max(best, static_cast<double>(bytes) / s);
  }
  return best;
}

}  // namespace

std::uint64_t read_pass(const std::uint64_t* p, std::size_t n, int threads) {
  std::uint64_t sum = 0;
#pragma omp parallel for num_threads(std::max(1, threads)) reduction(+ : sum) schedule(static)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) sum += p[i];
  return sum;
}

void copy_pass(char* dst, const char* src, std::size_t n, int threads) {
#pragma omp parallel num_threads(std::max(1, threads))
  {
    const std::size_t k = static_cast<std::size_t>(omp_get_thread_num());
    const std::size_t parts = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t begin = n * k / parts, end = n * (k + 1) / parts;
    std::memcpy(dst + begin, src + begin, end - begin);
  }
}

double measure_read_bandwidth(std::size_t bytes, int threads, int reps) {
  const std::size_t n = std::max<std::size_t>(1, bytes / sizeof(std::uint64_t));
  std::vector<std::uint64_t> buf(n);
  std::iota(buf.begin(), buf.end(), std::uint64_t{1});
  volatile std::uint64_t sink = 0;
  return best_rate(n * sizeof(std::uint64_t), reps,
                   [&] { sink = sink + read_pass(buf.data(), n, threads); });
}

double measure_copy_bandwidth(std::size_t bytes, int threads, int reps) {
  const std::size_t n = std::max<std::size_t>(1, bytes);
  std::vector<char> src(n, 1), dst(n, 0);
  // bytes read + bytes written
  return best_rate(2 * n, reps, [&] { copy_pass(dst.data(), src.data(), n, threads); });
}

double reference_read_bandwidth(const BenchOptions& options) {
  static const double bw =
      measure_read_bandwidth(options.tiny ? (8u << 20) : (256u << 20), options.threads, 5);
  return bw;
}

NpyRowReader::NpyRowReader(const std::filesystem::path& path)
    : path_(path), in_(path, std::ios::binary) {
  DB_CHECK(in_.good(), "{}: cannot open", path.string());
  char magic[8] = {};
  in_.read(magic, 8);
  DB_CHECK(in_.good() && std::memcmp(magic, "\x93NUMPY", 6) == 0, "{}: not an .npy file",
           path.string());
  std::size_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in_.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (static_cast<std::size_t>(b[1]) << 8);
    data_offset_ = 10;
  } else {
    unsigned char b[4];
    in_.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (static_cast<std::size_t>(b[1]) << 8) |
                 (static_cast<std::size_t>(b[2]) << 16) | (static_cast<std::size_t>(b[3]) << 24);
    data_offset_ = 12;
  }
  std::string header(header_len, '\0');
  in_.read(header.data(), static_cast<std::streamsize>(header_len));
  DB_CHECK(in_.good(), "{}: truncated header", path.string());
  data_offset_ += static_cast<std::streamoff>(header_len);
  DB_CHECK(header.find("'<f4'") != std::string::npos &&
               header.find("'fortran_order': False") != std::string::npos,
           "{}: expected a float32 C-order array", path.string());
  const std::size_t open = header.find("'shape': (");
  DB_CHECK(open != std::string::npos, "{}: no shape in the header", path.string());
  std::istringstream shape(header.substr(open + 10));
  char comma = 0;
  shape >> rows_ >> comma >> cols_;
  DB_CHECK(!shape.fail() && comma == ',' && cols_ > 0, "{}: expected a 2-D shape", path.string());
}

std::size_t NpyRowReader::read(Matrix& out) {
  DB_CHECK(out.cols() == cols_, "{}: reading {} columns into a matrix of {}", path_.string(), cols_,
           out.cols());
  const std::size_t n = std::min(out.rows(), rows_ - next_);
  in_.read(reinterpret_cast<char*>(out.data()),
           static_cast<std::streamsize>(n * cols_ * sizeof(float)));
  DB_CHECK(in_.good() || n == 0, "{}: truncated data at row {}", path_.string(), next_);
  next_ += n;
  return n;
}

void NpyRowReader::rewind() {
  in_.clear();
  in_.seekg(data_offset_);
  next_ = 0;
}

FeatureFolder read_feature_folder(const std::filesystem::path& dir) {
  const std::filesystem::path npy = dir / "features.npy", csv_path = dir / "labels.csv";
  Matrix x = read_npy(npy);
  const CsvFile csv = read_csv_file(csv_path);  // the first record is the header
  std::map<std::string, std::vector<std::size_t>> rows;
  std::vector<LabelId> teacher;
  LabelId max_id = -1;
  for (const CsvRecord& record : csv.records) {
    const std::size_t line_no = record.line;
    const std::vector<std::string>& f = record.fields;
    if (f.size() != 7)
      fail({csv_path.string(), line_no, ""}, fmt::format("expected 7 fields, got {}", f.size()));
    LabelId t = 0, g = 0;
    try {
      t = std::stoi(f[3]);
      g = std::stoi(f[4]);
    } catch (const std::exception&) {
      fail({csv_path.string(), line_no, "teacher_id"}, "expected integer label ids");
    }
    if (t < 0) fail({csv_path.string(), line_no, "teacher_id"}, "negative id");
    max_id = std::max({max_id, t, g});
    rows[f[2]].push_back(teacher.size());
    teacher.push_back(t);
  }
  if (teacher.size() != x.rows())
    fail({csv_path.string(), 0, ""},
         fmt::format("{} label rows but {} has {} rows", teacher.size(), npy.string(), x.rows()));
  // Ids are all we need: a label space "0".."n-1" keeps every id (numeric order).
  std::vector<std::string> names;
  for (LabelId i = 0; i <= max_id; ++i) names.push_back(std::to_string(i));
  auto labels = std::make_shared<const LabelSpace>(names);
  auto make = [&](const std::string& split) {
    Dataset d;
    d.labels = labels;
    const auto& idx = rows[split];
    d.features = gather_rows(x, idx);
    for (std::size_t i : idx) d.teacher.push_back(teacher[i]);
    return d;
  };
  FeatureFolder s{make("train"), make("val"), make("cal"), make("test")};
  if (s.train.size() == 0 || s.test.size() == 0)
    fail({csv_path.string(), 0, "split"}, "needs train and test rows");
  return s;
}

}  // namespace deferbench::bench
