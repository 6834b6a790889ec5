#include "core/model/params.h"

#include <fmt/ranges.h>

#include "core/util/error.h"

namespace deferbench {

namespace param_detail {

std::string format_number(double v) {
  return fmt::format("{}", v);
}

std::string format_int_list(const std::vector<int>& v) {
  return fmt::format("[{}]", fmt::join(v, ", "));
}

std::string join_choices(const std::vector<std::string>& choices) {
  return fmt::format("{}", fmt::join(choices, " | "));
}

void bad_file_value(const BinaryReader& r, const std::string& field, const std::string& expected,
                    const std::string& got) {
  fail({r.source(), 0, field}, fmt::format("expected {}, got {} (corrupt?)", expected, got));
}

}  // namespace param_detail

void check_param_count(const BinaryReader& r, const std::string& model, std::uint32_t got,
                       std::size_t required, std::size_t expected) {
  if (got < required || got > expected)
    fail({r.source(), 0, "parameters"},
         required == expected
             ? fmt::format("{} parameters where a {} model file has {} (a file of another model?)",
                           got, model, expected)
             : fmt::format("{} parameters where a {} model file has {} to {} (a file of another "
                           "model?)",
                           got, model, required, expected));
}

void check_param_name(const BinaryReader& r, const std::string& model, std::size_t index,
                      const std::string& got, const std::string& expected) {
  if (got != expected)
    fail({r.source(), 0, "parameters"},
         fmt::format("parameter {} is '{}' where a {} model file has '{}' (a file of another "
                     "model?)",
                     index + 1, got, model, expected));
}

YAML::Node params_to_yaml(const std::vector<ParamInfo>& params) {
  YAML::Node out(YAML::NodeType::Map);
  for (const ParamInfo& p : params) out[p.name] = YAML::Load(p.value);
  return out;
}

}  // namespace deferbench
