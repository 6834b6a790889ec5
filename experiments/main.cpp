// deferbench: one-line errors and exit status 2 for a user's mistake; 1 for an internal error.
#include <exception>

#include <fmt/format.h>
#include <yaml-cpp/exceptions.h>

#include "core/util/error.h"
#include "experiments/cli.h"

int main(int argc, char** argv) {
  try {
    return deferbench::cli_main(argc, argv);
  } catch (const deferbench::Error& e) {
    fmt::print(stderr, "deferbench: error: {}\n", e.what());
    return 2;
  } catch (const YAML::Exception& e) {
    fmt::print(stderr, "deferbench: error: config: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "deferbench: internal error: {}\n", e.what());
    return 1;
  }
}
