// Running a helper program (gnuplot) as a child process: no shell, so no text reaches a command
// line interpreter; its standard input is /dev/null, its output is captured.
#pragma once

#include <filesystem>
#include <string>

namespace deferbench {

// The executable `name` on PATH (or `name` itself when it holds a '/'); empty if none.
std::filesystem::path find_executable(const std::string& name);

// Runs `program argument` in `dir` (fork + execv, no shell); "" on success, else a one-line
// reason (the exit status or signal and the last line of the program's output).
std::string run_program(const std::filesystem::path& program, const std::filesystem::path& dir,
                        const std::string& argument);

}  // namespace deferbench
