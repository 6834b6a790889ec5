#include "core/model/registry.h"

#include <fstream>

#include <fmt/ranges.h>

#include "core/data/binary_io.h"
#include "core/util/error.h"

namespace deferbench {

void ModelRegistry::add(const std::string& name, Factory factory, Loader loader,
                        Describer describe) {
  DB_ASSERT_MSG(entries_.count(name) == 0, "model '{}' registered twice", name);
  entries_[name] = Entry{std::move(factory), std::move(loader), std::move(describe)};
  order_.push_back(name);
}

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

std::vector<ParamInfo> ModelRegistry::params(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    DB_THROW("unknown model '{}'; valid models: {}", name, fmt::join(names(), ", "));
  return it->second.describe ? it->second.describe(nullptr) : std::vector<ParamInfo>{};
}

std::vector<ParamInfo> ModelRegistry::params_of(const Classifier& model) const {
  auto it = entries_.find(std::string(model.name()));
  DB_ASSERT_MSG(it != entries_.end(), "model '{}' is not registered", model.name());
  return it->second.describe ? it->second.describe(&model) : std::vector<ParamInfo>{};
}

std::unique_ptr<Classifier> ModelRegistry::make(const YAML::Node& spec,
                                                const std::string& path) const {
  if (!spec || !spec.IsMap() || !spec["name"] || !spec["name"].IsScalar())
    DB_THROW("config: '{}.name' is required; valid models: {}", path, fmt::join(names(), ", "));
  std::string name = spec["name"].Scalar();
  auto it = entries_.find(name);
  if (it == entries_.end())
    DB_THROW("config: '{}.name': unknown model '{}'; valid models: {}", path, name,
             fmt::join(names(), ", "));
  return it->second.factory(spec, path);
}

std::unique_ptr<Classifier> ModelRegistry::load(const std::filesystem::path& file) const {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail({file.string(), 0, ""}, "cannot open model file");
  BinaryReader reader(in, file.string());
  const std::string name = read_model_header(reader);
  auto it = entries_.find(name);
  if (it == entries_.end())
    fail({file.string(), 0, "model"},
         fmt::format("unknown model '{}'; this build knows {}", name, fmt::join(names(), ", ")));
  return it->second.loader(reader, name);
}

}  // namespace deferbench
