// The fit cache: work shared by the runs of a sweep (prepared data and fitted surrogates), the
// keys it is shared under, and the log line that says whether a run fitted or reused.
#pragma once

#include <cstddef>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/routing/families.h"
#include "core/routing/policy.h"
#include "core/util/context.h"
#include "experiments/prepare.h"
#include "experiments/run_settings.h"

namespace deferbench {

// A surrogate's fitted cascade and the seconds its fit took.
struct FittedSurrogate {
  std::vector<FittedStage> stages;
  std::vector<StageOutput> test;  // each stage's outputs on every test row
  double fit_seconds = 0;
};

// Work shared by the runs of a sweep: prepared data (per data set, split seed and featurizer)
// and fitted surrogates (per preparation, model and pipeline fit settings). Thread-safe: runs
// in parallel that need the same entry wait for the one computing it. An entry lives while
// some run that declared it (expect) has not released it; a key nobody declared is computed
// and not kept.
class FitCache {
 public:
  void expect(const std::vector<std::string>& keys);
  void release(const std::vector<std::string>& keys);
  std::shared_ptr<const PreparedData> prepared(const std::string& key,
                                               const std::function<PreparedData()>& make);
  std::shared_ptr<const FittedSurrogate> fitted(const std::string& key,
                                                const std::function<FittedSurrogate()>& make);
  std::size_t computed() const;  // entries computed (misses)
  std::size_t reused() const;    // requests answered from the cache (hits)
  std::size_t live() const;      // entries held now

 private:
  using Value = std::shared_ptr<const void>;
  Value get(const std::string& key, const std::function<Value()>& make);
  struct Entry {
    int expected = 0;
    bool started = false;
    std::shared_future<Value> value;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::size_t computed_ = 0, reused_ = 0;
};

// Shared work is keyed by everything it depends on. Preparation: the data set, its folder, the
// split and its seed, the featurizer, device and threads.
std::string prep_cache_key(const YAML::Node& config, const RunSettings& settings,
                           const Context& ctx);

// A fit: its preparation, the member's spec and place in the zoo (its seed), the stage count and
// the pipeline's fit settings (acceptor, rsb, ood: everything but families, zoo, selection and
// costs). One key per zoo member, in zoo order.
std::vector<std::string> fit_cache_keys(const YAML::Node& config, const std::string& prep_key,
                                        const std::vector<YAML::Node>& specs, int stages);

// The prepared data under `key`: through the cache when there is one, else computed here.
std::shared_ptr<const PreparedData> cached_prepared(FitCache* cache, const std::string& key,
                                                    const std::function<PreparedData()>& make);

struct CachedFit {
  std::shared_ptr<const FittedSurrogate> fitted;
  bool cached = false;  // the fit came from the cache (computed by another run)
};

// The fit of the surrogate `label` under `key`: through the cache when there is one, else
// computed here. Logs whether it was fitted or reused, and the seconds its fit took.
CachedFit cached_fit(FitCache* cache, const std::string& key, const std::string& label,
                     const std::function<FittedSurrogate()>& make);

}  // namespace deferbench
