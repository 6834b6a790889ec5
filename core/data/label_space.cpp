#include "core/data/label_space.h"

#include <algorithm>
#include <charconv>

#include "core/util/error.h"

namespace deferbench {
namespace {

std::optional<long long> as_integer(const std::string& s) {
  long long v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || ptr != end || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

LabelSpace::LabelSpace(const std::vector<std::string>& labels) : names_(labels) {
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
  bool all_integers = std::all_of(names_.begin(), names_.end(),
                                  [](const std::string& s) { return as_integer(s).has_value(); });
  if (all_integers) {
    std::sort(names_.begin(), names_.end(), [](const std::string& a, const std::string& b) {
      long long x = *as_integer(a), y = *as_integer(b);
      return x != y ? x < y : a < b;  // "07" and "7" both stay, in a fixed order
    });
  }
  for (std::size_t i = 0; i < names_.size(); ++i) ids_.emplace(names_[i], static_cast<LabelId>(i));
}

std::optional<LabelId> LabelSpace::find(const std::string& label) const {
  auto it = ids_.find(label);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

LabelId LabelSpace::id(const std::string& label) const {
  auto found = find(label);
  DB_CHECK(found.has_value(), "label '{}' is not in the label space ({} labels)", label,
           names_.size());
  return *found;
}

}  // namespace deferbench
