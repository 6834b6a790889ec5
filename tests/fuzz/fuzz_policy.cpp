// libFuzzer target: load_policy (experiments/policy_io.h) on a policy folder whose manifest.json
// is the fuzz input; the folder also holds valid model, neighbour and label files (copied once
// from tests/fuzz/policy_files/, saved by a real run) that the manifest may name. A policy that
// loads then routes a few rows of its feature width, as `deferbench route` would. Success or a
// deferbench::Error is fine; anything else is a finding.
#include <cmath>
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

// Whether any number in `j` is a float too large for an int.
bool huge_float(const nlohmann::json& j) {
  if (j.is_number_float()) return !(std::fabs(j.get<double>()) < 2e9);
  if (j.is_structured())
    for (const auto& v : j)
      if (huge_float(v)) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace deferbench;
  const std::filesystem::path dir = policy_dir();
  fuzz::write_input("policy/manifest.json", data, size);
  // Known finding, reported (experiments/ belongs to others): load_policy reads "format" and
  // "version" with m.value() outside its try, so a manifest that is not an object, or whose
  // format is not a string or version not a number, throws nlohmann's type_error (306, 302)
  // instead of an Error (findings/policy_manifest_not_object.json,
  // findings/policy_format_not_string.json). Such inputs are skipped so that the run goes on.
  const auto parsed = nlohmann::json::parse(data, data + size, nullptr, false);
  if (!parsed.is_discarded()) {
    if (!parsed.is_object()) return 0;
    if (parsed.contains("format") && !parsed["format"].is_string()) return 0;
    if (parsed.contains("version") && !parsed["version"].is_number()) return 0;
    // Same family: a float beyond an integer's range (feature_dim, knn, ood_k) is converted by
    // get<std::size_t>() / get<int>() (UBSan in nlohmann's from_json,
    // findings/policy_feature_dim_float.json).
    if (huge_float(parsed)) return 0;
  }
  try {
    const SavedPolicy p = load_policy(dir);
    if (p.feature_dim == 0 || p.feature_dim > 4096 || p.featurizer) return 0;
    Matrix x(5, p.feature_dim);
    for (std::size_t i = 0; i < x.rows(); ++i)
      for (std::size_t j = 0; j < x.cols(); ++j) x(i, j) = static_cast<float>(i) - 0.5f * j;
    Context ctx;
    const Routed r = route(p.stages, x, ctx);
    if (r.stage.size() != x.rows() || r.label.size() != x.rows()) std::abort();
    // Known finding, reported: load_policy does not check the models' class count against the
    // manifest's labels, so a handled row's label may lie outside the label space
    // (findings/policy_label_out_of_range.json; route_file would then index past the names).
  } catch (const Error& e) {
    fuzz::check_message(e.what(), std::size_t(-1));  // policy_io.cpp's messages: any length
  }
  return 0;
}
