// Shared pieces of the benchmark harnesses (deferbench_bench, route_bench): the options of a
// benchmark run, the zoo table, synthetic data sets, fitted routing policies, resident-memory
// probes and the memory-bandwidth probe. No LibTorch here: models come through the registry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/data/dataset.h"
#include "core/data/matrix.h"
#include "core/routing/policy.h"
#include "core/util/context.h"

namespace deferbench::bench {

// What deferbench_bench was asked for (its own flags, read before Google Benchmark's).
struct BenchOptions {
  bool tiny = false;                  // --tiny or DEFERBENCH_BENCH_TINY=1: tiny data, one iteration
  int threads = 0;                    // --threads N (resolved: ≥ 1; default all cores)
  std::vector<int> fit_scales;        // --fit-scales 1,10,100: fit data = 10k rows × scale
  bool scale = false;                 // --scale: the 1M-row routing / fitting memory benchmarks
  std::size_t scale_rows = 1u << 20;  // --scale-rows N (default 1,048,576)
  std::filesystem::path scale_file;   // --scale-file F (default: temp dir, reused across runs)
  std::filesystem::path data_dir;     // --data-dir D (banking77 lives in D/banking77/)
  std::vector<std::string> only;      // --models a,b: zoo keys to register (default: all)
  // --model KEY=SPEC (repeatable): one more model, e.g. 'lr8k=name: logreg, batch_rows: 8192'
  std::vector<std::pair<std::string, std::string>> extra_models;

  // Removes the flags above from argv (Google Benchmark rejects unknown flags); throws
  // deferbench::Error for a malformed value.
  static BenchOptions parse(int* argc, char** argv);
  static const char* usage();
};

// The non-empty items of a comma-separated list (spaces dropped).
std::vector<std::string> split_commas(std::string_view s);

// One row of the zoo table: a key for benchmark names and the registry spec.
struct ZooModel {
  std::string key;  // logreg, logreg_c10, mlp_1h, ...
  YAML::Node spec;  // {name: logreg, C: 10}
};

// Every zoo model this build can construct (xgb only when XGBoost was found), in table order,
// then the --model ones. Tiny mode shrinks the ensembles and epochs so that a fit takes
// milliseconds. `only` filters the table by key (empty: all). `skipped` receives
// "key: reason" for models that cannot be built.
std::vector<ZooModel> zoo_models(const BenchOptions& options, std::vector<std::string>* skipped);

// A context on `device` with `threads` threads and seed 0.
Context make_context(Device device, int threads);

// Synthetic Gaussian-cluster traces (core/data/synthetic.h) as a Dataset with `classes`
// classes and `dim` features. Rows of one seed do not depend on `rows` (a prefix is stable).
// Class centres kSyntheticSeparation apart (the generator's default, 4, leaves a linear model
// at ~33% teacher agreement with 77 classes in 256-d; at 8, ~66%, and a policy at target 0.8
// handles about two thirds of the traffic).
inline constexpr double kSyntheticSeparation = 8.0;
Dataset synthetic_dataset(std::size_t rows, std::size_t dim, std::size_t classes,
                          std::uint64_t seed);

// Rows [begin, end) of a Dataset (features and teacher only).
Dataset slice(const Dataset& d, std::size_t begin, std::size_t end);

// A fitted one-stage l2d policy: surrogate on train, acceptor (logreg on the probability
// summaries, no kNN feature) on val, guaranteed threshold (target kTarget, δ = 0.1) on cal.
// The synthetic teacher errs on 10% of rows at random, so agreement above ~0.9 is out of reach
// there: 0.8 lets the policies handle part of the traffic (coverage is reported as a check).
inline constexpr double kTarget = 0.8;
struct FittedPolicy {
  std::vector<Stage> stages;
  double fit_seconds = 0;       // surrogate + acceptor fit and calibration
  std::size_t model_bytes = 0;  // saved size of surrogate + acceptor (the model's memory proxy)
  bool feasible = false;        // the calibration found a threshold (else everything defers)
};
FittedPolicy fit_policy(const YAML::Node& spec, const Dataset& train, const Dataset& val,
                        const Dataset& cal, const Context& ctx);

// Saves / loads a one-stage policy fitted above (surrogate, acceptor, threshold) in `dir`.
void save_stage(const Stage& stage, const std::filesystem::path& dir);
std::vector<Stage> load_stage(const std::filesystem::path& dir);

// Resident memory of this process. peak_rss_bytes is the kernel's high-water mark (VmHWM,
// falling back to getrusage's ru_maxrss); reset_peak_rss sets it back to the current RSS
// (/proc/self/clear_refs, Linux ≥ 4.0) and says whether that worked.
std::size_t current_rss_bytes();
std::size_t peak_rss_bytes();
bool reset_peak_rss();
// Returns freed heap memory to the kernel (glibc malloc_trim), so that the RSS measured next
// is not inflated by what an earlier benchmark freed.
void trim_heap();

// The bandwidth kernels: one pass over n 64-bit words (their sum) and a copy of n bytes, each
// split in equal contiguous parts over `threads` OpenMP threads.
std::uint64_t read_pass(const std::uint64_t* p, std::size_t n, int threads);
void copy_pass(char* dst, const char* src, std::size_t n, int threads);

// The memory-bandwidth probe over a buffer of `bytes` with `threads` OpenMP threads.
// read: sum of 64-bit words (bytes read per second); copy: memcpy per thread chunk (bytes
// read + written per second). Each runs `reps` passes, returning the best rate.
double measure_read_bandwidth(std::size_t bytes, int threads, int reps);
double measure_copy_bandwidth(std::size_t bytes, int threads, int reps);

// The read bandwidth used for the "fraction of bandwidth" counters: measured once per process
// (256 MiB buffer; 8 MiB in tiny mode) with the benchmark's thread count.
double reference_read_bandwidth(const BenchOptions& options);

// A float32 2-D .npy file read in row blocks (what write_npy writes: format 1.x/2.x, '<f4',
// C order), so that a file larger than memory can be streamed.
class NpyRowReader {
 public:
  explicit NpyRowReader(const std::filesystem::path& path);
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  // Reads the next min(out.rows(), rows left) rows into `out` (cols must match); returns how
  // many rows were read (0 at the end).
  std::size_t read(Matrix& out);
  void rewind();

 private:
  std::filesystem::path path_;
  std::ifstream in_;
  std::size_t rows_ = 0, cols_ = 0, next_ = 0;
  std::streamoff data_offset_ = 0;
};

// Bytes → MiB (the memory counters are in MiB).
inline double mib(std::size_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

// Fixture caches (function-local statics) register here how to drop their contents;
// bench_main calls release_fixtures() before returning, so that fitted models die while the
// libraries they use still exist (an XGBoost booster freed by a static destructor after
// XGBoost's own globals crashes at exit) and temporary folders are removed.
void on_release(std::function<void()> release);
void release_fixtures();

// ---- registration: one function per bench_*.cpp, called by bench_main.cpp ----------------
// `options` must outlive the benchmark run (the benchmarks keep a reference).
void register_bandwidth_benchmarks(const BenchOptions& options);
void register_routing_benchmarks(const BenchOptions& options);
void register_text_routing_benchmarks(const BenchOptions& options);
void register_fit_benchmarks(const BenchOptions& options);
void register_calibration_benchmarks(const BenchOptions& options);
void register_scale_benchmarks(const BenchOptions& options);
void register_expert_routing_benchmarks(const BenchOptions& options);
void register_warm_start_benchmarks(const BenchOptions& options);

// A `deferbench featurize -o DIR` folder: DIR/features.npy and DIR/labels.csv
// (row,id,split,teacher_id,gold_id,teacher,gold), its rows split by the `split` column; the
// label space is the ids "0".."max" (numeric order). Errors name the file, line and field.
// Splits a folder lacks are empty; at least train and test rows are required.
struct FeatureFolder {
  Dataset train, val, cal, test;
};
FeatureFolder read_feature_folder(const std::filesystem::path& dir);

}  // namespace deferbench::bench
