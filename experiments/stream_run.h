// The online cascade (issue 17, DESIGN.md "Online cascade"): `deferbench run ... stream=true`
// replays the trace set as a stream of queries and serves it with a policy that learns from the
// teacher over time.
//
//   cold start   the first `cold_start` queries go to the teacher; the first policy (the `model`
//                group's surrogate, an acceptor, a threshold: l2d; with the memory, the surrogate
//                blended with it, or an rsb-style cascade of surrogate then memory) is fitted
//                and calibrated on their labels.
//   serving      each query is handled or deferred; a deferred query's teacher answer joins the
//                labels (paid). Independently of the routing, a seeded share ε of all queries is
//                flagged for calibration: a flagged handled query is an audit (its teacher answer
//                is bought, recorded as audit cost), a flagged deferred one costs nothing more.
//   calibration  the flagged labels (with a share of the cold-start ones) are a uniform sample
//                of the stream, as the flag is drawn independently of x and of the policy:
//                `val_share` of them train the acceptor and place the threshold grid, the rest
//                are the calibration pool. No importance weights are needed, and each refit
//                calibrates (guaranteed mode, the `calibration` section, δ per refit) on rows
//                its training did not see. The other labels (deferred rows: a biased sample,
//                rich in hard queries) train the surrogate only.
//   monitor      the audited handled queries feed an anytime-valid confidence sequence per
//                policy (core/stream/monitor.h); when its upper bound falls below the target
//                the stream defers everything (the calibration pool restarts: only labels after
//                the alarm certify) until a refit certifies again.
//   refits       every `refit_every` new labels, and `refit_after_alarm` labels after an alarm;
//                warm starts where the model allows (Classifier::warm_start_from).
//   memory       resolved queries (training labels) as a kNN vote blended into the surrogate
//                (memory_mode blend) or as a stage after it (stage; core/stream/memory.h),
//                rebuilt at refits and, with memory_refresh > 0, every memory_refresh labels.
//
// Every variant in `stream.variants` (online: warm refits + memory; online_no_memory; periodic:
// cold refits; periodic_no_monitor: cold refits and no alarm, TRACER's update; fit_once: the
// cold-start policy forever) replays the same stream with the same
// flags, so their teacher calls compare directly. Writes nothing: the result is a RunOutput with
// stream.csv (experiments/run_output.h).
#pragma once

#include <yaml-cpp/yaml.h>

#include "experiments/run_output.h"
#include "experiments/run_settings.h"

namespace deferbench {

RunOutput compute_stream_run(const YAML::Node& config, const RunOptions& options);

}  // namespace deferbench
