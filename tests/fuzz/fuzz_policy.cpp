// libFuzzer target: load_policy (experiments/policy_io.h) on a policy folder whose manifest.json
// is the fuzz input; the folder also holds valid model, neighbour and label files (copied once
// from tests/fuzz/policy_files/, saved by a real run) that the manifest may name. A policy that
// loads then routes a few rows of its feature width, as `deferbench route` would. Success or a
// deferbench::Error is fine; anything else is a finding. The seeds' manifests list the folder's
// files with their checksums (version 2), so mutations reach the fields past the file check.
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "core/util/context.h"
#include "core/util/error.h"
#include "experiments/policy_io.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const std::filesystem::path& policy_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path d = deferbench::fuzz::scratch_dir() / "policy";
    std::filesystem::create_directories(d);
    const std::filesystem::path files = std::filesystem::path(DEFERBENCH_FUZZ_DIR) / "policy_files";
    for (const auto& e : std::filesystem::directory_iterator(files))
      std::filesystem::copy_file(e.path(), d / e.path().filename(),
                                 std::filesystem::copy_options::overwrite_existing);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace deferbench;
  const std::filesystem::path dir = policy_dir();
  fuzz::write_input("policy/manifest.json", data, size);
  try {
    const SavedPolicy p = load_policy(dir);
    if (p.feature_dim == 0 || p.feature_dim > 4096 || p.featurizer) return 0;
    Matrix x(5, p.feature_dim);
    for (std::size_t i = 0; i < x.rows(); ++i)
      for (std::size_t j = 0; j < x.cols(); ++j) x(i, j) = static_cast<float>(i) - 0.5f * j;
    Context ctx;
    const Routed r = route(p.stages, x, ctx);
    if (r.stage.size() != x.rows() || r.label.size() != x.rows()) std::abort();
    // Every handled row's label lies in the manifest's label space (the class counts are
    // checked on load).
    for (std::size_t i = 0; i < x.rows(); ++i)
      if (r.stage[i] >= 0 && static_cast<std::size_t>(r.label[i]) >= p.labels->size()) std::abort();
  } catch (const Error& e) {
    fuzz::check_message(e.what(), std::size_t(-1));  // policy_io.cpp's messages: any length
  }
  return 0;
}
