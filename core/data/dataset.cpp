#include "core/data/dataset.h"

#include <cmath>
#include <limits>

namespace deferbench {
namespace {

template <class T>
void append_optional(std::vector<T>& mine, std::size_t my_rows, std::vector<T>& theirs,
                     std::size_t their_rows, const T& missing) {
  if (mine.empty() && theirs.empty()) return;
  if (mine.empty()) mine.assign(my_rows, missing);
  if (theirs.empty()) theirs.assign(their_rows, missing);
  mine.insert(mine.end(), std::make_move_iterator(theirs.begin()),
              std::make_move_iterator(theirs.end()));
}

template <class T>
std::vector<T> pick(const std::vector<T>& v, const std::vector<std::size_t>& rows) {
  if (v.empty()) return {};
  std::vector<T> out;
  out.reserve(rows.size());
  for (std::size_t r : rows) out.push_back(v[r]);
  return out;
}

}  // namespace

void Traces::append(Traces other) {
  const std::size_t n = size(), m = other.size();
  if (n == 0 && embeddings.empty() && source.empty()) {
    *this = std::move(other);
    return;
  }
  DB_CHECK(has_embeddings() == other.has_embeddings(),
           "{} and {}: either every file has embeddings or none does", source, other.source);
  if (has_embeddings()) {
    DB_CHECK(embeddings.cols() == other.embeddings.cols(),
             "{}: embeddings have {} columns, but {} has {}", other.source, other.embeddings.cols(),
             source, embeddings.cols());
    std::vector<float> merged(embeddings.values());
    merged.insert(merged.end(), other.embeddings.values().begin(), other.embeddings.values().end());
    embeddings = Matrix(n + m, embeddings.cols(), std::move(merged));
  }
  auto cat = [](auto& a, auto& b) {
    a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
  };
  cat(texts, other.texts);
  cat(teacher, other.teacher);
  cat(ids, other.ids);
  append_optional(gold, n, other.gold, m, std::string());
  append_optional(times, n, other.times, m, std::numeric_limits<double>::quiet_NaN());
  append_optional(slices, n, other.slices, m, std::string());
  for (auto& [name, values] : other.fields) fields[name];  // a field only one side has
  for (auto& [name, values] : fields)
    append_optional(values, n, other.fields[name], m, std::string());
  dropped_no_answer += other.dropped_no_answer;
  source += ", " + other.source;
}

LabelSpace label_space_of(const std::vector<const Traces*>& traces) {
  std::vector<std::string> all;
  for (const Traces* t : traces) {
    all.insert(all.end(), t->teacher.begin(), t->teacher.end());
    for (const std::string& g : t->gold)
      if (!g.empty()) all.push_back(g);
  }
  return LabelSpace(all);
}

Dataset Dataset::subset(const std::vector<std::size_t>& rows) const {
  Dataset out;
  if (!features.empty()) out.features = gather_rows(features, rows);
  out.teacher = pick(teacher, rows);
  out.gold = pick(gold, rows);
  out.ids = pick(ids, rows);
  out.times = pick(times, rows);
  out.slices = pick(slices, rows);
  out.texts = pick(texts, rows);
  for (const auto& [name, values] : fields) out.fields[name] = pick(values, rows);
  out.labels = labels;
  return out;
}

Dataset to_dataset(Traces traces, std::shared_ptr<const LabelSpace> labels) {
  DB_ASSERT(labels != nullptr);
  Dataset d;
  d.teacher.reserve(traces.size());
  for (const std::string& t : traces.teacher) d.teacher.push_back(labels->id(t));
  if (traces.has_gold()) {
    d.gold.reserve(traces.size());
    for (const std::string& g : traces.gold) d.gold.push_back(g.empty() ? kNoLabel : labels->id(g));
  }
  d.features = std::move(traces.embeddings);
  d.ids = std::move(traces.ids);
  d.times = std::move(traces.times);
  d.slices = std::move(traces.slices);
  d.texts = std::move(traces.texts);
  d.fields = std::move(traces.fields);
  d.labels = std::move(labels);
  return d;
}

}  // namespace deferbench
