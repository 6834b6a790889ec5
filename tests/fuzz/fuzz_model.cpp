// libFuzzer target: ModelRegistry::load with the built-in zoo (models/registry.h) on arbitrary
// model-file contents (seeds: one saved file per model kind). Success or a deferbench::Error is
// fine; anything else is a finding. A model that loads predicts on a few rows of its own width
// when the file tells it (every zoo model checks the width it is given: a mismatch is an Error).
#include <cstdint>
#include <cstdlib>

#include "core/util/context.h"
#include "core/util/error.h"
#include "models/registry.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace deferbench;
  // Findings 4, 5 and 8 (tests/fuzz/README.md) are fixed: no input is skipped, and an internal
  // error (std::logic_error from DB_ASSERT) is a finding like any other exception.
  const auto path = fuzz::write_input("model.bin", data, size);
  try {
    const auto model = builtin_models().load(path);
    if (!model) std::abort();
    // Every loader checks the classes (core/model/model_file.h: check_model_classes): at least
    // one, ascending, unique, inside a label space of at least one.
    if (model->n_classes() == 0) std::abort();
  } catch (const Error& e) {
    fuzz::check_message(e.what(), 1024 + path.string().size());
  }
  return 0;
}
