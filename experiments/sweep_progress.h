// The progress of a sweep on stderr: runs done/total, elapsed, ETA and the runs in flight; a
// redrawn bar on a terminal, one line per finished run otherwise.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>

#include "experiments/sweep.h"

namespace deferbench {

// Thread-safe: the runs of a sweep report from their worker threads.
class SweepProgress {
 public:
  // `done`: runs already complete (a resumed sweep).
  SweepProgress(ProgressMode mode, std::size_t total, std::size_t done);

  void started(std::size_t run, const std::string& label);
  void finished(std::size_t run, bool ok, double seconds, const std::string& message);
  void close();

  // A sweep followed from outside (Slurm): `done` runs finished, `in_flight` says what runs.
  // The first call sets where the ETA starts counting; lines mode prints a line when `done`
  // changes (and at the first call).
  void show(std::size_t done, const std::string& in_flight, bool first);
  // A message on a line of its own (a run recorded as failed).
  void note(const std::string& message);

 private:
  using Clock = std::chrono::steady_clock;
  double eta(double elapsed) const;
  void draw();

  ProgressMode mode_;
  std::size_t total_, done_, done_here_ = 0;
  Clock::time_point start_;
  std::map<std::size_t, std::string> running_;
  std::string in_flight_;  // show()'s text, drawn when no run of this process is in flight
  std::mutex mu_;
};

}  // namespace deferbench
