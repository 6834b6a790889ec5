// The parts of an XGBoost booster's model that deferbench's tree predictor needs, read from its
// UBJSON bytes by a SAX pass (models/xgboost/xgb.cpp compiles them into a TreeScorer).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "models/trees/tree_scorer.h"

namespace deferbench::xgb_detail {

// The parts of a booster's JSON model (as UBJSON) that prediction needs, read by a SAX pass (a
// 100-round, 77-class booster is ~8M values: no DOM): the base score, the class of each tree
// and each tree's arrays. Anything else a gbtree of numerical splits does not have (another
// booster, categorical splits, vector leaves) marks the model as not compilable.
class BoosterReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  struct Tree {
    std::vector<std::int64_t> left, right, feature, split_type;
    std::vector<double> condition;
  };
  explicit BoosterReader(std::size_t n_features) : n_features_(n_features) {}

  double base_score = 0.5;
  std::vector<std::int64_t> tree_info;
  std::vector<std::vector<GbtNode>> nodes;  // each tree, converted as soon as it is read
  bool compilable = true;

  // A value that an integer array (tree_info, children, split indices or types) cannot hold:
  // a float that is not a whole number in int64's range, or an unsigned number beyond it. Set
  // when the parse stopped on it (bad_array names the array, bad_value the value).
  std::string bad_array, bad_value;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return number(static_cast<double>(v), v); }
  bool number_unsigned(number_unsigned_t v) override {
    const bool fits = v <= static_cast<number_unsigned_t>(std::numeric_limits<std::int64_t>::max());
    return number(static_cast<double>(v),
                  fits ? std::optional<std::int64_t>(static_cast<std::int64_t>(v)) : std::nullopt);
  }
  bool number_float(number_float_t v, const string_t&) override {
    // Cast only a whole number that int64 holds: [−2^63, 2^63) (a float at or beyond 2^63, or
    // NaN, would make the cast undefined).
    constexpr double kTwo63 = 9223372036854775808.0;
    const bool whole = v >= -kTwo63 && v < kTwo63 && std::trunc(v) == v;
    return number(v,
                  whole ? std::optional<std::int64_t>(static_cast<std::int64_t>(v)) : std::nullopt);
  }
  bool string(string_t& v) override {
    if (key_ == "base_score") base_score = std::strtod(v.c_str(), nullptr);
    if (key_ == "name" && !stack_.empty() && stack_.back().key == "gradient_booster" &&
        v != "gbtree")
      compilable = false;
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (in_trees_array()) {
      tree_ = Tree{};
      in_tree_ = true;
    }
    stack_.push_back({'{', container_key()});
    return true;
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    key_.clear();
    if (in_tree_ && in_trees_array()) {  // a tree's object just closed
      convert();
      in_tree_ = false;
    }
    return true;
  }
  bool start_array(std::size_t) override {
    stack_.push_back({'[', container_key()});
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    key_.clear();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct Level {
    char kind;
    std::string key;  // the key this container is the value of
  };
  std::vector<Level> stack_;
  std::string key_;
  std::size_t n_features_;
  Tree tree_;  // the tree being read
  bool in_tree_ = false;

  // tree_ as our nodes: XGBoost's "x < c" becomes "x ≤ c⁻" (the largest float below c); a leaf's
  // value is its split condition. Anything malformed or categorical: not compilable.
  void convert() {
    const Tree& x = tree_;
    const std::size_t n = x.left.size();
    bool ok = n > 0 && x.right.size() == n && x.feature.size() == n && x.condition.size() == n;
    for (std::int64_t type : x.split_type) ok = ok && type == 0;
    std::vector<GbtNode> out(ok ? n : 0);
    for (std::size_t i = 0; ok && i < n; ++i) {
      GbtNode& node = out[i];
      if (x.left[i] < 0) {
        node.value = static_cast<float>(x.condition[i]);
        continue;
      }
      const auto in_tree = [&](std::int64_t c) {
        return c > 0 && c < static_cast<std::int64_t>(n);
      };
      ok = in_tree(x.left[i]) && in_tree(x.right[i]) && x.feature[i] >= 0 &&
           static_cast<std::size_t>(x.feature[i]) < n_features_;
      node.feature = static_cast<std::int32_t>(x.feature[i]);
      node.threshold = std::nextafter(static_cast<float>(x.condition[i]),
                                      -std::numeric_limits<float>::infinity());
      node.left = static_cast<std::int32_t>(x.left[i]);
      node.right = static_cast<std::int32_t>(x.right[i]);
    }
    compilable = compilable && ok;
    nodes.push_back(std::move(out));
    tree_ = Tree{};
  }

  // A container inside an array is known by the array's key, otherwise by its own.
  std::string container_key() const {
    return !stack_.empty() && stack_.back().kind == '[' ? stack_.back().key : key_;
  }
  bool path_has(const char* k) const {
    for (const Level& l : stack_)
      if (l.key == k) return true;
    return false;
  }
  // The objects directly inside learner.gradient_booster.model.trees.
  bool in_trees_array() const {
    return !stack_.empty() && stack_.back().kind == '[' && stack_.back().key == "trees" &&
           path_has("gradient_booster");
  }
  // A number: `d` as a double, `i` as an integer when it is one that int64 holds. An array of
  // integers that meets anything else stops the parse.
  bool number(double d, std::optional<std::int64_t> i) {
    if (stack_.empty() || stack_.back().kind != '[') return true;
    const std::string& array = stack_.back().key;
    std::vector<std::int64_t>* ints = nullptr;
    if (array == "tree_info" && stack_.size() >= 2 && stack_[stack_.size() - 2].key == "model") {
      ints = &tree_info;
    } else if (in_tree_ && stack_.size() >= 2 && stack_[stack_.size() - 2].key == "trees") {
      Tree& t = tree_;
      if (array == "split_conditions") t.condition.push_back(d);
      if (array == "left_children") ints = &t.left;
      if (array == "right_children") ints = &t.right;
      if (array == "split_indices") ints = &t.feature;
      if (array == "split_type") ints = &t.split_type;
    }
    if (!ints) return true;
    if (!i) {
      bad_array = array;
      bad_value = fmt::format("{}", d);
      return false;
    }
    ints->push_back(*i);
    return true;
  }
};

}  // namespace deferbench::xgb_detail
