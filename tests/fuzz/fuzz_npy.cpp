// libFuzzer target: read_npy (core/data/npy.h) on arbitrary file contents. Any outcome but a
// finite matrix of the stated shape or a deferbench::Error with a short one-line message is a
// finding.
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "core/data/npy.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace deferbench;
  const auto path = fuzz::write_input("x.npy", data, size);
  try {
    const Matrix m = read_npy(path);
    if (m.values().size() != m.rows() * m.cols()) std::abort();
    for (float v : m.values())
      if (!std::isfinite(v)) std::abort();
  } catch (const Error& e) {
    fuzz::check_message(e.what(), 400 + path.string().size());
  }
  return 0;
}
