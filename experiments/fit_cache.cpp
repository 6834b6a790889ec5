#include "experiments/fit_cache.h"

#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace deferbench {

namespace {

std::string yaml_key(const YAML::Node& node) {
  return node ? YAML::Dump(node) : "~";
}

}  // namespace

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

std::string prep_cache_key(const YAML::Node& config, const RunSettings& s, const Context& ctx) {
  // Cross-fitting pools train and val in the prepared data (prepare_data).
  return fmt::format("prep|{}|{}|{}|{}|{}|{}|{}|cf{}/{}/{}", yaml_key(config["dataset"]),
                     s.data_dir.string(), s.seed, yaml_key(config["split"]),
                     yaml_key(config["features"]), device_name(ctx.device), ctx.threads,
                     s.pipeline.cross_fit_folds, s.pipeline.cross_fit_max_rows,
                     s.pipeline.cross_fit_val_rows);
}

std::vector<std::string> fit_cache_keys(const YAML::Node& config, const std::string& prep_key,
                                        const std::vector<YAML::Node>& specs, int stages) {
  YAML::Node fit_settings = YAML::Clone(config["pipeline"]);
  if (fit_settings && fit_settings.IsMap())
    for (const char* k : {"families", "zoo", "selection", "teacher_cost", "surrogate_cost"})
      fit_settings.remove(k);
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < specs.size(); ++i)
    keys.push_back(fmt::format("fit|{}|{}|{}|{}|{}", prep_key, i, yaml_key(specs[i]), stages,
                               yaml_key(fit_settings)));
  return keys;
}

std::shared_ptr<const PreparedData> cached_prepared(FitCache* cache, const std::string& key,
                                                    const std::function<PreparedData()>& make) {
  return cache ? cache->prepared(key, make) : std::make_shared<const PreparedData>(make());
}

CachedFit cached_fit(FitCache* cache, const std::string& key, const std::string& label,
                     const std::function<FittedSurrogate()>& make) {
  bool computed = false;
  auto counted = [&] {
    computed = true;
    return make();
  };
  CachedFit out;
  out.fitted =
      cache ? cache->fitted(key, counted) : std::make_shared<const FittedSurrogate>(counted());
  out.cached = !computed;
  if (computed)
    spdlog::info("{}: fitted {} stage(s) in {:.2f} s", label, out.fitted->stages.size(),
                 out.fitted->fit_seconds);
  else
    spdlog::info("{}: {} stage(s) reused from the sweep's cache (fitted in {:.2f} s)", label,
                 out.fitted->stages.size(), out.fitted->fit_seconds);
  return out;
}

}  // namespace deferbench
