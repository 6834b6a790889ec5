// One variant of the online cascade replayed over a stream (experiments/stream_run.h says what
// the stream, the labels, the calibration pool, the monitor, the refits and the memory are):
// the serving loop, its refits and stream.csv's rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/dataset.h"
#include "core/routing/policy.h"
#include "experiments/run_steps.h"
#include "experiments/stream_settings.h"

namespace deferbench {

// A uniform number in [0, 1) for stream position p and a purpose (salt): the same for every
// variant, so the variants see the same calibration flags.
double stream_draw(std::uint64_t seed, std::uint64_t salt, std::size_t p);
// The salt of the calibration flag (a flagged handled query is an audit).
constexpr std::uint64_t kCalibrationFlag = 0xCA1;

struct VariantResult {
  std::string csv;
  nlohmann::json json;
  // Per stream position: whether it was handled; per window: its first position and the true
  // agreement on its handled queries (NaN: none handled); the positions of the alarms.
  std::vector<std::uint8_t> handled;
  std::vector<std::size_t> window_first, alarms;
  std::vector<double> window_agreement;
};

// Replays the stream `s` (rows in stream order, the teacher's answers as the scenario made them)
// with one variant; target and calib as the run's calibration resolved for the stream.
VariantResult simulate_stream(const Dataset& s, const StreamSettings& st,
                              const StreamVariant& variant, const RunPlan& plan,
                              const CalibrationSettings& calib, double target);

// stream.csv's header (README, "Online cascade", says what each column is).
std::string stream_csv_header();

}  // namespace deferbench
