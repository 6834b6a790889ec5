// Finding an executable on PATH and running it without a shell.
#include "experiments/subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

namespace deferbench {

namespace fs = std::filesystem;

// The executable `name` on PATH (or `name` itself when it holds a '/'); empty if none.
fs::path find_executable(const std::string& name) {
  auto runnable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return runnable(name) ? fs::absolute(name) : fs::path();
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "";
  while (true) {
    const std::size_t colon = dirs.find(':');
    const std::string dir(dirs.substr(0, colon));
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (runnable(candidate)) return fs::absolute(candidate);
    if (colon == std::string_view::npos) return {};
    dirs.remove_prefix(colon + 1);
  }
}

// Runs `program argument` in `dir` (no shell); "" on success, else a one-line reason.
std::string run_program(const fs::path& program, const fs::path& dir, const std::string& argument) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return "cannot create a pipe";
  const std::string prog = program.string(), cwd = dir.string();
  std::vector<char*> argv = {const_cast<char*>(prog.c_str()), const_cast<char*>(argument.c_str()),
                             nullptr};
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return "cannot fork";
  }
  if (pid == 0) {  // the child: only async-signal-safe calls
    const int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in >= 0) ::dup2(null_in, STDIN_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    if (::chdir(cwd.c_str()) == 0) ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(fds[0], buffer, sizeof buffer);
    if (got > 0)
      output.append(buffer, static_cast<std::size_t>(got));
    else if (got == 0 || errno != EINTR)
      break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  std::string reason = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                         : std::string("killed by a signal");
  // The last line of the output: gnuplot's error message.
  output.erase(output.find_last_not_of("\n\r ") + 1);
  const std::size_t newline = output.rfind('\n');
  if (!output.empty())
    reason += ": " + output.substr(newline == std::string::npos ? 0 : newline + 1);
  return reason;
}

}  // namespace deferbench
