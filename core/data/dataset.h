// Traces as read (`Traces`: labels still strings) and as used (`Dataset`: label ids + features).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/data/label_space.h"
#include "core/data/matrix.h"

namespace deferbench {

// What a reader returns: one entry per usable trace, in file order.
struct Traces {
  std::string source;                // the file(s) the rows came from, for messages
  std::vector<std::string> texts;    // the input text ("" where the format has none)
  std::vector<std::string> teacher;  // the teacher's answer
  std::vector<std::string> gold;     // empty: no gold at all; "" for a row without gold
  std::vector<std::string> ids;      // always filled (a reader invents "<file>:<line>" if absent)
  std::vector<double> times;         // empty: none; NaN for a row without a time
  std::vector<std::string> slices;   // empty: none; "" for a row without a slice
  // Metadata fields named in config (the audit's slices): name → one value per row ("" none).
  std::map<std::string, std::vector<std::string>> fields;
  Matrix embeddings;                  // rows × d, or 0 × 0 when the traces carry none
  std::size_t dropped_no_answer = 0;  // rows dropped: the teacher gave no usable answer

  std::size_t size() const { return teacher.size(); }
  bool has_gold() const { return !gold.empty(); }
  bool has_embeddings() const { return !embeddings.empty(); }

  // Appends `other` (from another file). Optional columns present in only one side are
  // filled with their "missing" value for the other side's rows; embeddings must agree in
  // width, or be absent on both sides.
  void append(Traces other);
};

// The label space spanned by the teacher and gold answers of some traces.
LabelSpace label_space_of(const std::vector<const Traces*>& traces);

struct Dataset {
  Matrix features;               // rows × d (may be 0 × 0 before featurization)
  std::vector<LabelId> teacher;  // teacher label ids
  std::vector<LabelId> gold;     // empty: no gold; kNoLabel for a row without gold
  std::vector<std::string> ids;
  std::vector<double> times;                               // empty or one per row (NaN: none)
  std::vector<std::string> slices;                         // empty or one per row
  std::vector<std::string> texts;                          // empty or one per row
  std::map<std::string, std::vector<std::string>> fields;  // as in Traces
  std::shared_ptr<const LabelSpace> labels;

  std::size_t size() const { return teacher.size(); }
  std::size_t n_classes() const { return labels ? labels->size() : 0; }
  bool has_gold() const { return !gold.empty(); }

  // The rows listed in `rows`, in that order, every column copied.
  Dataset subset(const std::vector<std::size_t>& rows) const;
};

// Maps the label strings of `traces` through `labels` (which must contain them all) and takes
// its embeddings, if any, as the features.
Dataset to_dataset(Traces traces, std::shared_ptr<const LabelSpace> labels);

}  // namespace deferbench
