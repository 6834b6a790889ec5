// Log lines of a run, captured for its log.txt. The default spdlog logger is given a sink that
// appends every message logged on a thread to that thread's current capture (if any), so the
// lines of runs executing in parallel land in their own log.txt.
#pragma once

#include <string>

namespace deferbench {

// Replaces the default logger's sinks: the capture sink, plus stdout when `console`.
void install_run_log_sink(bool console);

// While alive, messages logged on this thread are appended (formatted, one per line) to
// `buffer`. Nested captures restore the outer one on destruction.
class RunLogCapture {
 public:
  explicit RunLogCapture(std::string* buffer);
  ~RunLogCapture();
  RunLogCapture(const RunLogCapture&) = delete;
  RunLogCapture& operator=(const RunLogCapture&) = delete;

 private:
  std::string* previous_;
};

}  // namespace deferbench
