#include "experiments/run_log.h"

#include <memory>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace deferbench {
namespace {

thread_local std::string* t_capture = nullptr;

// Appends to the calling thread's capture buffer (the lock guards the shared formatter).
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (t_capture == nullptr) return;
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    t_capture->append(formatted.data(), formatted.size());
  }
  void flush_() override {}
};

std::mutex g_install_mu;
bool g_installed = false;

}  // namespace

void install_run_log_sink(bool console) {
  std::lock_guard<std::mutex> lock(g_install_mu);
  g_installed = true;
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<CaptureSink>()};
  if (console) sinks.push_back(std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("deferbench", sinks.begin(), sinks.end());
  logger->set_level(previous->level());
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S] %v");
}

RunLogCapture::RunLogCapture(std::string* buffer) : previous_(t_capture) {
  bool installed;
  {
    std::lock_guard<std::mutex> lock(g_install_mu);
    installed = g_installed;
  }
  if (!installed) install_run_log_sink(true);
  t_capture = buffer;
}
RunLogCapture::~RunLogCapture() {
  t_capture = previous_;
}

}  // namespace deferbench
