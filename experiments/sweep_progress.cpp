#include "experiments/sweep_progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace deferbench {

namespace {

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const long t = std::lround(s);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02}", t / 60, t % 60);
}

}  // namespace

SweepProgress::SweepProgress(ProgressMode mode, std::size_t total, std::size_t done)
    : mode_(mode), total_(total), done_(done), start_(Clock::now()) {
  if (mode_ == ProgressMode::kAuto)
    mode_ = isatty(fileno(stderr)) ? ProgressMode::kBar : ProgressMode::kLines;
  if (mode_ == ProgressMode::kLines && done_ > 0)
    fmt::print(stderr, "[sweep] resuming: {}/{} runs already complete\n", done_, total_);
}

void SweepProgress::started(std::size_t run, const std::string& label) {
  std::lock_guard<std::mutex> lock(mu_);
  running_[run] = label;
  draw();
}

void SweepProgress::finished(std::size_t run, bool ok, double seconds, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string label = running_[run];
  running_.erase(run);
  ++done_;
  ++done_here_;
  if (mode_ == ProgressMode::kNone) return;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const std::string status =
      ok ? fmt::format("ok in {:.1f} s", seconds) : fmt::format("FAILED: {}", message);
  if (mode_ == ProgressMode::kLines) {
    fmt::print(stderr, "[sweep] {}/{} run {} {} ({}) elapsed {} ETA {}\n", done_, total_, run,
               status, label, fmt_duration(elapsed), fmt_duration(eta(elapsed)));
    return;
  }
  if (!ok) fmt::print(stderr, "\r\033[K[sweep] run {} ({}) {}\n", run, label, status);
  draw();
}

void SweepProgress::close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == ProgressMode::kBar) fmt::print(stderr, "\n");
}

void SweepProgress::show(std::size_t done, const std::string& in_flight, bool first) {
  std::lock_guard<std::mutex> lock(mu_);
  if (first) {
    start_ = Clock::now();
    done_here_ = 0;
  } else if (done > done_) {
    done_here_ += done - done_;
  }
  const bool changed = first || done != done_;
  done_ = done;
  in_flight_ = in_flight;
  if (mode_ == ProgressMode::kLines && changed) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    fmt::print(stderr, "[sweep] {}/{} runs finished ({}) elapsed {} ETA {}\n", done_, total_,
               in_flight_, fmt_duration(elapsed), fmt_duration(eta(elapsed)));
  }
  draw();
}

void SweepProgress::note(const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == ProgressMode::kNone) return;
  fmt::print(stderr, "{}[sweep] {}\n", mode_ == ProgressMode::kBar ? "\r\033[K" : "", message);
  draw();
}

double SweepProgress::eta(double elapsed) const {
  if (done_here_ == 0) return -1;
  return elapsed / static_cast<double>(done_here_) * static_cast<double>(total_ - done_);
}

void SweepProgress::draw() {
  if (mode_ != ProgressMode::kBar) return;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  constexpr int kWidth = 24;
  const int filled = total_ ? static_cast<int>(kWidth * done_ / total_) : kWidth;
  std::string bar;
  for (int i = 0; i < kWidth; ++i) bar += i < filled ? "█" : "░";
  std::string now;
  for (const auto& [run, label] : running_)
    now += fmt::format("{}run {}: {}", now.empty() ? "" : " | ", run, label);
  if (now.empty()) now = in_flight_;
  std::string line = fmt::format("{} {}/{}  {} elapsed  ETA {}  {}", bar, done_, total_,
                                 fmt_duration(elapsed), fmt_duration(eta(elapsed)), now);
  winsize w{};
  const std::size_t cols =
      ioctl(fileno(stderr), TIOCGWINSZ, &w) == 0 && w.ws_col > 10 ? w.ws_col : 100;
  // The bar's characters are 3 bytes each and one column wide.
  const std::size_t max_bytes = cols - 1 + 2 * kWidth;
  if (line.size() > max_bytes) line = line.substr(0, max_bytes);
  fmt::print(stderr, "\r\033[K{}", line);
  std::fflush(stderr);
}

}  // namespace deferbench
