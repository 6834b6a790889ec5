#include "core/experts/choices.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/util/error.h"

namespace deferbench {

int parse_correctness(const std::string& cell) {
  std::string s = cell;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "true" || s == "1") return 1;
  if (s == "false" || s == "0") return 0;
  return -1;
}

namespace {

const std::vector<std::string>& column_of(const Dataset& split, const ExpertSpec& e) {
  const auto it = split.fields.find(e.column);
  DB_CHECK(it != split.fields.end(),
           "config: 'experts.models': expert '{}' reads column '{}', which the traces do not "
           "hold; expected a column of the data set",
           e.name, e.column);
  DB_ASSERT(it->second.size() == split.size());
  return it->second;
}

}  // namespace

ExpertRows read_expert_rows(const Dataset& split, const std::vector<ExpertSpec>& experts,
                            const std::string& reference) {
  DB_ASSERT(split.labels != nullptr);
  const LabelSpace& labels = *split.labels;
  const std::size_t n = split.size();
  std::set<std::string> names;
  for (const ExpertSpec& e : experts)
    DB_CHECK(names.insert(e.name).second,
             "config: 'experts.models': expert name '{}' appears twice; expected unique names",
             e.name);

  ExpertRows out;
  if (reference == "none") {
    for (const ExpertSpec& e : experts)
      DB_CHECK(e.kind == ExpertColumnKind::kCorrectness,
               "config: 'experts.reference': none, but expert '{}' holds answers; expected gold "
               "or an expert's name to compare answers with",
               e.name);
    out.reference.assign(n, kNoLabel);
  } else if (reference == "gold") {
    DB_CHECK(split.has_gold(),
             "config: 'experts.reference': gold asked, but the traces have no gold column; "
             "expected the name of an expert (agreement with it) or a data set with gold");
    out.reference = split.gold;
    for (std::size_t i = 0; i < n; ++i)
      DB_CHECK(out.reference[i] != kNoLabel,
               "traces: row '{}' has no gold label; expected one on every row with "
               "experts.reference = gold",
               split.ids[i]);
  } else {
    const auto it = std::find_if(experts.begin(), experts.end(),
                                 [&](const ExpertSpec& e) { return e.name == reference; });
    DB_CHECK(it != experts.end(),
             "config: 'experts.reference': '{}' is not an expert of experts.models; expected "
             "gold or one of their names",
             reference);
    DB_CHECK(it->kind == ExpertColumnKind::kAnswer,
             "config: 'experts.reference': expert '{}' holds correctness, not answers; expected "
             "an expert whose column holds answers",
             reference);
    const std::vector<std::string>& col = column_of(split, *it);
    out.reference.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto id = labels.find(col[i]);
      DB_CHECK(id.has_value(),
               "traces: row '{}', column '{}': reference answer '{}' is not a label of the data "
               "set; expected one of its {} labels",
               split.ids[i], it->column, col[i], labels.size());
      out.reference[i] = *id;
    }
  }

  for (const ExpertSpec& e : experts) {
    const std::vector<std::string>& col = column_of(split, e);
    std::vector<std::uint8_t> right(n);
    std::vector<LabelId> answer(n, kNoLabel);
    for (std::size_t i = 0; i < n; ++i) {
      if (e.kind == ExpertColumnKind::kCorrectness) {
        const int c = parse_correctness(col[i]);
        DB_CHECK(c >= 0,
                 "traces: row '{}', column '{}' (expert '{}', kind correctness): got '{}'; "
                 "expected True, False, 1 or 0",
                 split.ids[i], e.column, e.name, col[i]);
        right[i] = static_cast<std::uint8_t>(c);
      } else {
        const auto id = labels.find(col[i]);
        if (id) answer[i] = *id;
        right[i] = id && *id == out.reference[i] ? 1 : 0;
      }
    }
    out.correct.push_back(std::move(right));
    out.answer.push_back(std::move(answer));
  }
  return out;
}

}  // namespace deferbench
