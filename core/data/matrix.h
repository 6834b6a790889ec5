// Dense row-major float matrices: `Matrix` owns its buffer, `MatrixView` does not.
#pragma once

#include <cstddef>
#include <vector>

#include "core/util/error.h"

namespace deferbench {

class MatrixView {
 public:
  MatrixView() = default;
  MatrixView(const float* data, std::size_t rows, std::size_t cols)
      : data_(data), rows_(rows), cols_(cols) {}

  const float* data() const { return data_; }
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return rows_ * cols_; }
  bool empty() const { return rows_ == 0 || cols_ == 0; }

  const float* row(std::size_t i) const { return data_ + i * cols_; }
  float operator()(std::size_t i, std::size_t j) const { return data_[i * cols_ + j]; }

  // Rows [begin, end): a view of a contiguous block, no copy.
  MatrixView slice_rows(std::size_t begin, std::size_t end) const {
    DB_ASSERT(begin <= end && end <= rows_);
    return MatrixView(data_ + begin * cols_, end - begin, cols_);
  }

 private:
  const float* data_ = nullptr;
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
};

class Matrix {
 public:
  Matrix() = default;
  Matrix(std::size_t rows, std::size_t cols, float fill = 0.0f)
      : rows_(rows), cols_(cols), data_(rows * cols, fill) {}
  Matrix(std::size_t rows, std::size_t cols, std::vector<float> data)
      : rows_(rows), cols_(cols), data_(std::move(data)) {
    DB_ASSERT(data_.size() == rows_ * cols_);
  }
  static Matrix copy_of(MatrixView v) {
    return Matrix(v.rows(), v.cols(), std::vector<float>(v.data(), v.data() + v.size()));
  }

  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return data_.size(); }
  bool empty() const { return rows_ == 0 || cols_ == 0; }

  float* row(std::size_t i) { return data_.data() + i * cols_; }
  const float* row(std::size_t i) const { return data_.data() + i * cols_; }
  float& operator()(std::size_t i, std::size_t j) { return data_[i * cols_ + j]; }
  float operator()(std::size_t i, std::size_t j) const { return data_[i * cols_ + j]; }

  MatrixView view() const { return MatrixView(data_.data(), rows_, cols_); }
  operator MatrixView() const { return view(); }  // NOLINT: a Matrix is usable wherever a view is

  const std::vector<float>& values() const { return data_; }

 private:
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::vector<float> data_;
};

// The rows of `m` listed in `index`, in that order (a copy).
Matrix gather_rows(MatrixView m, const std::vector<std::size_t>& index);

}  // namespace deferbench
