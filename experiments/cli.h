// The `deferbench` command line.
#pragma once

namespace deferbench {

// Parses the arguments and runs the subcommand. Throws deferbench::Error on a user's mistake
// (main turns it into one line on stderr and exit status 2).
int cli_main(int argc, char** argv);

}  // namespace deferbench
