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

 private:
  using Clock = std::chrono::steady_clock;
  double eta(double elapsed) const;
  void draw();

  ProgressMode mode_;
  std::size_t total_, done_, done_here_ = 0;
  Clock::time_point start_;
  std::map<std::size_t, std::string> running_;
  std::mutex mu_;
};

}  // namespace deferbench
