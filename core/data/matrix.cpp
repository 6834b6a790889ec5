#include "core/data/matrix.h"

#include <algorithm>

namespace deferbench {

Matrix gather_rows(MatrixView m, const std::vector<std::size_t>& index) {
  Matrix out(index.size(), m.cols());
  for (std::size_t k = 0; k < index.size(); ++k) {
    DB_ASSERT(index[k] < m.rows());
    std::copy_n(m.row(index[k]), m.cols(), out.row(k));
  }
  return out;
}

}  // namespace deferbench
