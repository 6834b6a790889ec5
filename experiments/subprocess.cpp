// Finding an executable on PATH and running it without a shell.
#include "experiments/subprocess.h"

#include <fcntl.h>
#include <poll.h>
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

ProgramOutput run_capture(const fs::path& program, const std::vector<std::string>& args,
                          const fs::path& dir) {
  ProgramOutput result;
  int out_fds[2], err_fds[2];
  if (::pipe2(out_fds, O_CLOEXEC) != 0) return result;
  if (::pipe2(err_fds, O_CLOEXEC) != 0) {
    ::close(out_fds[0]);
    ::close(out_fds[1]);
    return result;
  }
  const std::string prog = program.string(), cwd = dir.string();
  std::vector<char*> argv = {const_cast<char*>(prog.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out_fds[0], out_fds[1], err_fds[0], err_fds[1]}) ::close(fd);
    return result;
  }
  if (pid == 0) {  // the child: only async-signal-safe calls
    const int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in >= 0) ::dup2(null_in, STDIN_FILENO);
    ::dup2(out_fds[1], STDOUT_FILENO);
    ::dup2(err_fds[1], STDERR_FILENO);
    if (cwd.empty() || ::chdir(cwd.c_str()) == 0) ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_fds[1]);
  ::close(err_fds[1]);
  // Both pipes read as they fill (a child blocked on a full stderr would never end stdout).
  pollfd fds[2] = {{out_fds[0], POLLIN, 0}, {err_fds[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buffer[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
      if (got > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const pollfd& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string last_line(std::string text) {
  text.erase(text.find_last_not_of("\n\r ") + 1);
  const std::size_t newline = text.rfind('\n');
  return text.substr(newline == std::string::npos ? 0 : newline + 1);
}

// Runs `program argument` in `dir` (no shell); "" on success, else a one-line reason.
std::string run_program(const fs::path& program, const fs::path& dir, const std::string& argument) {
  const ProgramOutput r = run_capture(program, {argument}, dir);
  if (r.status == 0) return "";
  std::string reason =
      r.status > 0 ? fmt::format("exit status {}", r.status) : std::string("killed by a signal");
  // The last line of the output: gnuplot's error message.
  const std::string line =
      last_line(r.err.find_first_not_of("\n\r ") != std::string::npos ? r.err : r.out);
  if (!line.empty()) reason += ": " + line;
  return reason;
}

}  // namespace deferbench
