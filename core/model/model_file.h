// One file format for every model: a header (the magic tag `deferbench-model`, the format
// version, the model's registered name), the parameters through the model's ParamTable
// (core/model/params.h), then the model's own state as its save_state writes it.
//
// A model class M that the registry handles (ModelRegistry::add<M>, core/model/registry.h) has
//   using Params = ...;                      // with static const ParamTable<Params>& table()
//                                            // (or table(std::string_view model) when the
//                                            // fields differ between registered names)
//   M(Params) or M(std::string name, Params);
//   const Params& params() const;
//   void save_state(BinaryWriter&) const;    // what the model learned
//   void load_state(BinaryReader&);          // reads it back; errors name r.source()
// and implements Classifier::save as `save_model_file(*this, path)`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/data/binary_io.h"
#include "core/model/params.h"
#include "core/util/atomic_file.h"

namespace deferbench {

// The magic tag every model file starts with.
inline constexpr const char* kModelFileMagic = "deferbench-model";
// Version 2: one header and self-describing parameters for every model (version 1 files, whose
// parameter layout differed per model, are not read: fit and save the model again).
inline constexpr std::uint32_t kModelFileVersion = 2;

void write_model_header(BinaryWriter& w, std::string_view name);
// Checks the magic tag and the version (exactly kModelFileVersion); returns the model name.
std::string read_model_header(BinaryReader& r);

// The most classes a model file's label space may have (n_classes): far beyond any dataset's,
// and small enough that predict_proba's output (rows × n_classes) cannot overflow a size.
inline constexpr std::uint64_t kMaxModelClasses = std::uint64_t{1} << 24;

// Checks the classes a model's state declares, with errors naming r.source() and the field:
// `n_classes`, the size of the global label space, in [1, kMaxModelClasses]; `classes`, the
// global ids the model predicts, at least one, strictly ascending (so unique), each below
// n_classes. predict_proba writes a row's probabilities into the columns `classes` names of an
// n_classes-wide row, which is safe exactly when these hold. At least 1 class, not 2: a model
// fitted on a training set of one class predicts it with probability 1 and saves one class, a
// valid file; with 0 classes there is no distribution to predict.
void check_model_classes(const BinaryReader& r, const std::string& model, std::uint64_t n_classes,
                         const std::vector<std::int32_t>& classes);

// The table of a params struct: P::table(model) when it takes the name, else P::table().
template <class P>
const ParamTable<P>& param_table(std::string_view model) {
  if constexpr (std::is_invocable_v<decltype(&P::table), std::string_view>)
    return P::table(model);
  else
    return P::table();
}

// A model of class M named `name` with parameters `p`.
template <class M>
std::unique_ptr<M> construct_model(const std::string& name, typename M::Params p) {
  if constexpr (std::is_constructible_v<M, std::string, typename M::Params>)
    return std::make_unique<M>(name, std::move(p));
  else
    return std::make_unique<M>(std::move(p));
}

// Writes `model` to `path` (atomically: a temporary file, then a rename).
template <class M>
void save_model_file(const M& model, const std::filesystem::path& path) {
  AtomicFile file(path);
  BinaryWriter w(file.stream());
  const std::string name(model.name());
  write_model_header(w, name);
  write_params(param_table<typename M::Params>(name), model.params(), w);
  model.save_state(w);
  file.commit();
}

// Reads the rest of a model file whose header named `name`: the parameters over `defaults` (the
// registered name's), then the model's state.
template <class M>
std::unique_ptr<M> read_model_body(BinaryReader& r, const std::string& name,
                                   typename M::Params defaults) {
  read_params(param_table<typename M::Params>(name), r, defaults, name);
  std::unique_ptr<M> model = construct_model<M>(name, std::move(defaults));
  model->load_state(r);
  r.expect_end();
  return model;
}

}  // namespace deferbench
