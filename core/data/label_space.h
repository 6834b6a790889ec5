// Label strings ↔ stable integer ids. Ids follow a sorted order of the label strings, so two
// runs over the same labels (read in any order) agree on every id. The order is numeric when
// every label is an integer ("2" < "10"), lexicographic otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace deferbench {

using LabelId = std::int32_t;
inline constexpr LabelId kNoLabel = -1;  // a missing (optional) label, e.g. no gold answer

class LabelSpace {
 public:
  LabelSpace() = default;
  // Builds the space from every label seen (duplicates allowed, order irrelevant).
  explicit LabelSpace(const std::vector<std::string>& labels);

  std::size_t size() const { return names_.size(); }
  const std::string& name(LabelId id) const { return names_.at(static_cast<std::size_t>(id)); }
  const std::vector<std::string>& names() const { return names_; }
  std::optional<LabelId> find(const std::string& label) const;
  // Like find, but throws deferbench::Error naming the label when it is absent.
  LabelId id(const std::string& label) const;

  bool operator==(const LabelSpace& other) const { return names_ == other.names_; }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, LabelId> ids_;
};

}  // namespace deferbench
