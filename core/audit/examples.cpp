#include "core/audit/examples.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "core/routing/acceptor.h"
#include "core/util/error.h"

namespace deferbench {

namespace {

double squared_distance(const float* a, const float* b, std::size_t d) {
  double s = 0;
  for (std::size_t j = 0; j < d; ++j) {
    const double diff = static_cast<double>(a[j]) - static_cast<double>(b[j]);
    s += diff * diff;
  }
  return s;
}

void check_rows(MatrixView features, std::size_t a, std::size_t b, const char* what) {
  DB_CHECK(features.rows() == a && a == b, "audit {}: {} feature rows, {} labels, {} flags", what,
           features.rows(), a, b);
}

}  // namespace

std::vector<BoundaryPair> boundary_pairs(MatrixView features,
                                         const std::vector<LabelId>& prediction,
                                         const std::vector<std::uint8_t>& handled,
                                         std::size_t classes, std::size_t pairs, int threads) {
  check_rows(features, prediction.size(), handled.size(), "boundary pairs");
  std::map<LabelId, std::vector<std::size_t>> handled_of, deferred_of;
  for (std::size_t i = 0; i < prediction.size(); ++i) {
    if (prediction[i] == kNoLabel) continue;
    (handled[i] ? handled_of : deferred_of)[prediction[i]].push_back(i);
  }
  std::vector<std::pair<std::size_t, LabelId>> order;  // (deferred rows, class)
  for (const auto& [c, rows] : deferred_of)
    if (handled_of.count(c)) order.emplace_back(rows.size(), c);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  if (order.size() > classes) order.resize(classes);
  std::vector<BoundaryPair> out;
  const std::size_t d = features.cols();
  for (const auto& [count, c] : order) {
    // The blocked nearest-neighbour search of the kNN acceptor (float distances, ties to the
    // lower handled row); the pair's distance is then recomputed in double.
    const std::vector<std::size_t>& kept = handled_of[c];
    const std::vector<std::size_t>& deferred = deferred_of[c];
    const NeighbourIndex index(gather_rows(features, kept).view(),
                               std::vector<LabelId>(kept.size(), c));
    const auto nearest = index.nearest(gather_rows(features, deferred).view(), 1, threads);
    std::vector<BoundaryPair> candidates;
    for (std::size_t i = 0; i < deferred.size(); ++i) {
      const std::size_t h = kept[nearest->rows[i]];
      candidates.push_back(
          {c, h, deferred[i], squared_distance(features.row(deferred[i]), features.row(h), d)});
    }
    std::stable_sort(
        candidates.begin(), candidates.end(),
        [](const BoundaryPair& a, const BoundaryPair& b) { return a.distance < b.distance; });
    if (candidates.size() > pairs) candidates.resize(pairs);
    for (BoundaryPair& p : candidates) {
      p.distance = std::sqrt(p.distance);
      out.push_back(p);
    }
  }
  return out;
}

std::vector<Representatives> representatives(MatrixView features, const std::vector<LabelId>& label,
                                             const std::vector<std::uint8_t>& handled) {
  check_rows(features, label.size(), handled.size(), "representatives");
  const std::size_t d = features.cols();
  std::map<LabelId, std::vector<std::size_t>> rows_of;
  for (std::size_t i = 0; i < label.size(); ++i)
    if (label[i] != kNoLabel) rows_of[label[i]].push_back(i);
  std::vector<Representatives> out;
  for (const auto& [c, rows] : rows_of) {
    std::vector<float> centroid(d, 0.0f);
    std::vector<double> sum(d, 0.0);
    for (std::size_t r : rows)
      for (std::size_t j = 0; j < d; ++j) sum[j] += features.row(r)[j];
    for (std::size_t j = 0; j < d; ++j)
      centroid[j] = static_cast<float>(sum[j] / static_cast<double>(rows.size()));
    Representatives rep;
    rep.label = c;
    rep.rows = rows.size();
    double best_h = std::numeric_limits<double>::infinity(), best_d = best_h;
    for (std::size_t r : rows) {
      const double dist = squared_distance(features.row(r), centroid.data(), d);
      double& best = handled[r] ? best_h : best_d;
      if (dist < best) {
        best = dist;
        (handled[r] ? rep.handled_row : rep.deferred_row) = r;
      }
    }
    out.push_back(rep);
  }
  return out;
}

std::vector<std::size_t> confident_disagreements(const std::vector<float>& score,
                                                 const std::vector<LabelId>& answer,
                                                 const std::vector<LabelId>& teacher,
                                                 const std::vector<std::uint8_t>& handled,
                                                 std::size_t count) {
  DB_CHECK(score.size() == answer.size() && answer.size() == teacher.size() &&
               teacher.size() == handled.size(),
           "audit disagreements: rows of unequal length");
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < answer.size(); ++i)
    if (handled[i] && answer[i] != teacher[i]) rows.push_back(i);
  std::stable_sort(rows.begin(), rows.end(),
                   [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
  if (rows.size() > count) rows.resize(count);
  return rows;
}

}  // namespace deferbench
