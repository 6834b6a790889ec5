// libFuzzer target: the command line's overrides. Input: up to 16 lines, each one override as
// typed after `deferbench run` (KEY=VALUE, +KEY=VALUE, ++KEY=VALUE, ~KEY, GROUP=OPTION, sweep
// values a,b / range(...) / choice(...)). They go through the sweep-value parser
// (experiments/sweep.h: is_sweep_override, sweep_values, with_config_axes, expand_sweep) and
// through compose_config (core/config/compose.h) on the project's own experiments/configs,
// whose result is rendered with to_yaml_text as `--cfg` does. Success or a deferbench::Error is
// fine; compose's messages must be one line and bounded. Anything else is a finding.
#include <cstdint>
#include <string>
#include <vector>

#include "core/config/compose.h"
#include "core/util/error.h"
#include "experiments/sweep.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const std::filesystem::path kConfigDir =
    std::filesystem::path(DEFERBENCH_ROOT) / "experiments" / "configs";

// Expanding a sweep materializes every run: only small products are expanded here, to keep runs
// fast (expand_sweep itself refuses more than kMaxSweepRuns before materializing anything:
// experiments/sweep.h).
constexpr double kMaxRuns = 4096;

std::vector<std::string> lines_of(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < size && out.size() < 16; ++i) {
    if (data[i] == '\n') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  if (!cur.empty() && out.size() < 16) out.push_back(cur);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace deferbench;
  const std::vector<std::string> overrides = lines_of(data, size);
  std::vector<std::string> plain;  // the overrides that do not sweep
  try {
    for (const std::string& o : overrides)
      if (!is_sweep_override(o)) plain.push_back(o);
    if (sweep_run_count(overrides) <= kMaxRuns) {
      const std::vector<std::string> all = with_config_axes(overrides, kConfigDir);
      if (sweep_run_count(all) <= kMaxRuns) {
        const SweepPlan plan = expand_sweep(all);
        if (plan.runs.empty()) std::abort();  // the product of non-empty lists is not empty
      }
    }
  } catch (const Error& e) {
    fuzz::check_message(e.what(), 4096);  // sweep.cpp quotes overrides through excerpt()
  }
  try {
    const ComposedConfig c = compose_config(kConfigDir, plain);
    const std::string text = to_yaml_text(c.config);
    if (text.empty()) std::abort();
  } catch (const Error& e) {
    fuzz::check_message(e.what(), 4096);
  }
  return 0;
}
