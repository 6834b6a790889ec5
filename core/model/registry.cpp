#include "core/model/registry.h"

#include <fstream>

#include <fmt/ranges.h>

#include "core/data/binary_io.h"
#include "core/util/error.h"

namespace deferbench {

void ModelRegistry::add(const std::string& name, Factory factory, Loader loader) {
  DB_ASSERT_MSG(entries_.count(name) == 0, "model '{}' registered twice", name);
  entries_[name] = Entry{std::move(factory), std::move(loader)};
}

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
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
  reader.header(kModelFileMagic, 1);
  std::string name = reader.string();
  auto it = entries_.find(name);
  if (it == entries_.end())
    fail({file.string(), 0, "model"},
         fmt::format("unknown model '{}'; this build knows {}", name, fmt::join(names(), ", ")));
  return it->second.loader(file);
}

}  // namespace deferbench
