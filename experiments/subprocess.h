// Running a helper program (gnuplot, sbatch, squeue) as a child process: no shell, so no text
// reaches a command line interpreter; its standard input is /dev/null, its output is captured.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace deferbench {

// The executable `name` on PATH (or `name` itself when it holds a '/'); empty if none.
std::filesystem::path find_executable(const std::string& name);

struct ProgramOutput {
  int status = -1;  // the exit status; -1: it could not start, or a signal ended it
  std::string out, err;
};

// Runs `program args...` in `dir` ("": here) without a shell; its standard input is /dev/null,
// its standard output and error are captured apart.
ProgramOutput run_capture(const std::filesystem::path& program,
                          const std::vector<std::string>& args, const std::filesystem::path& dir);

// The last non-empty line of `text` (a program's message).
std::string last_line(std::string text);

// Runs `program argument` in `dir` (fork + execv, no shell); "" on success, else a one-line
// reason (the exit status or signal and the last line of the program's output).
std::string run_program(const std::filesystem::path& program, const std::filesystem::path& dir,
                        const std::string& argument);

}  // namespace deferbench
