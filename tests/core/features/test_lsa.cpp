#include "core/features/lsa.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "core/util/error.h"
#include "models/torch/linalg.h"

namespace deferbench {
namespace {

Context cpu(std::uint64_t seed = 0, int threads = 2) {
  return Context{Device::kCpu, seed, threads};
}

Matrix dense(const SparseRows& x) {
  Matrix d(x.rows(), x.cols);
  for (std::size_t i = 0; i < x.rows(); ++i)
    for (std::size_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) d(i, x.indices[p]) += x.values[p];
  return d;
}

SparseRows sparse(const Matrix& d) {
  SparseRows x;
  x.cols = d.cols();
  for (std::size_t i = 0; i < d.rows(); ++i) {
    for (std::size_t j = 0; j < d.cols(); ++j) {
      if (d(i, j) == 0.0f) continue;
      x.indices.push_back(static_cast<std::uint32_t>(j));
      x.values.push_back(d(i, j));
    }
    x.indptr.push_back(x.values.size());
  }
  return x;
}

Matrix matmul(MatrixView a, MatrixView b) {
  Matrix out(a.rows(), b.cols());
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t l = 0; l < a.cols(); ++l)
      for (std::size_t j = 0; j < b.cols(); ++j) out(i, j) += a(i, l) * b(l, j);
  return out;
}

Matrix transposed(MatrixView a) {
  Matrix t(a.cols(), a.rows());
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j < a.cols(); ++j) t(j, i) = a(i, j);
  return t;
}

Matrix random_dense(std::size_t r, std::size_t c, std::mt19937_64& gen) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Matrix m(r, c);
  for (std::size_t i = 0; i < m.size(); ++i) m.data()[i] = u(gen);
  return m;
}

// A random sparse matrix of exact rank `rank`: dense row factors times sparse column factors
// (each factor touches 40 of `cols` columns, so most columns stay inactive).
SparseRows low_rank(std::size_t rows, std::size_t cols, std::size_t rank, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  Matrix u = random_dense(rows, rank, gen);
  Matrix v(rank, cols);
  std::uniform_real_distribution<float> w(0.5f, 1.5f);
  for (std::size_t f = 0; f < rank; ++f)
    for (int t = 0; t < 40; ++t) v(f, gen() % cols) = w(gen);
  return sparse(matmul(u, v));
}

float max_abs(MatrixView m) {
  float out = 0;
  for (std::size_t i = 0; i < m.size(); ++i) out = std::max(out, std::fabs(m.data()[i]));
  return out;
}

bool bitwise_equal(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(LsaSparse, ProductsMatchNaiveDense) {
  std::mt19937_64 gen(3);
  Matrix d(53, 81);
  for (std::size_t i = 0; i < d.size(); ++i)
    if (gen() % 5 == 0) d.data()[i] = static_cast<float>(static_cast<int>(gen() % 19) - 9);
  SparseRows a = sparse(d);
  Matrix b = random_dense(81, 7, gen);
  Matrix c = random_dense(53, 9, gen);
  Matrix ab = sparse_times_dense(a, b, 3);
  Matrix want_ab = matmul(d, b);
  Matrix atc = sparse_transpose_times_dense(a, c, 3);
  Matrix want_atc = matmul(transposed(d), c);
  ASSERT_EQ(ab.rows(), 53u);
  ASSERT_EQ(ab.cols(), 7u);
  ASSERT_EQ(atc.rows(), 81u);
  ASSERT_EQ(atc.cols(), 9u);
  for (std::size_t i = 0; i < ab.size(); ++i) EXPECT_NEAR(ab.data()[i], want_ab.data()[i], 1e-4);
  for (std::size_t i = 0; i < atc.size(); ++i) EXPECT_NEAR(atc.data()[i], want_atc.data()[i], 1e-4);
  // Independent of the thread count, bit for bit.
  EXPECT_TRUE(bitwise_equal(ab, sparse_times_dense(a, b, 1)));
  EXPECT_TRUE(bitwise_equal(atc, sparse_transpose_times_dense(a, c, 1)));
  // Transposing twice gives the matrix back.
  SparseRows tt = transpose(transpose(a));
  EXPECT_EQ(tt.cols, a.cols);
  EXPECT_EQ(tt.indptr, a.indptr);
  EXPECT_EQ(tt.indices, a.indices);
  EXPECT_EQ(tt.values, a.values);
}

TEST(LsaDenseSolver, QrAndSvd) {
  auto solver = make_torch_dense_solver(cpu());
  std::mt19937_64 gen(5);
  Matrix a = random_dense(40, 6, gen);
  Matrix q = solver->orthonormalize(a);
  ASSERT_EQ(q.rows(), 40u);
  ASSERT_EQ(q.cols(), 6u);
  Matrix qtq = matmul(transposed(q), q);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 6; ++j) EXPECT_NEAR(qtq(i, j), i == j ? 1.0 : 0.0, 1e-5);
  // Same column space: a = Q Qᵀ a.
  Matrix back = matmul(q, matmul(transposed(q), a));
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(back.data()[i], a.data()[i], 1e-5);

  Matrix w = random_dense(7, 12, gen);
  DenseSolver::Svd s = solver->svd(w);
  ASSERT_EQ(s.u.rows(), 7u);
  ASSERT_EQ(s.u.cols(), 7u);
  ASSERT_EQ(s.s.size(), 7u);
  ASSERT_EQ(s.vt.rows(), 7u);
  ASSERT_EQ(s.vt.cols(), 12u);
  for (std::size_t i = 1; i < s.s.size(); ++i) EXPECT_GE(s.s[i - 1], s.s[i]);
  Matrix us = s.u;
  for (std::size_t i = 0; i < 7; ++i)
    for (std::size_t j = 0; j < 7; ++j) us(i, j) *= s.s[j];
  Matrix rebuilt = matmul(us, s.vt);
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(rebuilt.data()[i], w.data()[i], 1e-5);
}

TEST(Lsa, LowRankSingularValuesAndReconstruction) {
  const std::size_t rank = 5;
  SparseRows x = low_rank(200, 1000, rank, 11);
  auto solver = make_torch_dense_solver(cpu());
  Lsa lsa;
  LsaOptions o;
  o.dim = 8;
  o.oversampling = 4;
  o.power_iterations = 2;
  lsa.fit(x, *solver, o, cpu(42));
  ASSERT_EQ(lsa.dim(), 8);
  EXPECT_EQ(lsa.cols(), 1000u);
  EXPECT_LT(lsa.columns().size(), 1000u);  // only active columns are kept

  Matrix d = dense(x);
  DenseSolver::Svd ref = solver->svd(d);
  for (std::size_t i = 0; i < rank; ++i)
    EXPECT_NEAR(lsa.singular_values()[i], ref.s[i], 1e-3 * ref.s[i]) << "singular value " << i;
  for (std::size_t i = rank; i < 8; ++i) EXPECT_LT(lsa.singular_values()[i], 1e-3 * ref.s[0]);

  // X ≈ (X Vᵀ) V: the top components span the row space of an exactly low-rank matrix.
  Matrix z = lsa.transform(x, 2);
  ASSERT_EQ(z.rows(), 200u);
  ASSERT_EQ(z.cols(), 8u);
  Matrix rebuilt = matmul(z, lsa.components());
  const float scale = max_abs(d);
  for (std::size_t i = 0; i < d.size(); ++i)
    ASSERT_NEAR(rebuilt.data()[i], d.data()[i], 1e-4 * scale) << "entry " << i;

  // The sign convention: each component's largest-magnitude loading is positive.
  Matrix comp = lsa.components();
  for (std::size_t k = 0; k < comp.rows(); ++k) {
    const float* r = comp.row(k);
    const float* best = std::max_element(
        r, r + comp.cols(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
    EXPECT_GT(*best, 0.0f) << "component " << k;
  }
}

TEST(Lsa, DeterministicForASeedSameSubspaceForAnother) {
  const std::size_t rank = 4;
  SparseRows x = low_rank(150, 600, rank, 12);
  auto solver = make_torch_dense_solver(cpu());
  LsaOptions o;
  o.dim = 6;
  Lsa a, b, c;
  a.fit(x, *solver, o, cpu(1));
  b.fit(x, *solver, o, cpu(1));
  c.fit(x, *solver, o, cpu(2));
  EXPECT_TRUE(bitwise_equal(a.loadings(), b.loadings()));
  EXPECT_EQ(a.singular_values(), b.singular_values());
  EXPECT_TRUE(bitwise_equal(a.transform(x, 2), b.transform(x, 1)));
  // Another seed: the top-`rank` components span the same subspace (each of c's lies in a's).
  Matrix ca = a.components(), cc = c.components();
  for (std::size_t k = 0; k < rank; ++k) {
    double norm2 = 0;
    for (std::size_t l = 0; l < rank; ++l) {
      double dot = 0;
      for (std::size_t j = 0; j < ca.cols(); ++j) dot += double(ca(l, j)) * cc(k, j);
      norm2 += dot * dot;
    }
    EXPECT_NEAR(norm2, 1.0, 1e-4) << "component " << k;
  }
}

TEST(Lsa, DimensionShrinksToTheData) {
  SparseRows x = low_rank(12, 300, 3, 13);
  auto solver = make_torch_dense_solver(cpu());
  LsaOptions o;
  o.dim = 50;
  Lsa lsa;
  lsa.fit(x, *solver, o, cpu());
  EXPECT_EQ(lsa.dim(), 12);  // 12 rows < 50 (and fewer than the active columns)
  EXPECT_EQ(lsa.transform(x, 1).cols(), 12u);
}

TEST(Lsa, EmptyMatrixIsAnError) {
  SparseRows x;
  x.cols = 10;
  x.indptr = {0, 0, 0};
  auto solver = make_torch_dense_solver(cpu());
  Lsa lsa;
  EXPECT_THROW(lsa.fit(x, *solver, LsaOptions{}, cpu()), Error);
}

TEST(Lsa, SaveLoadRoundTrip) {
  SparseRows x = low_rank(60, 400, 3, 14);
  auto solver = make_torch_dense_solver(cpu());
  LsaOptions o;
  o.dim = 5;
  Lsa a;
  a.fit(x, *solver, o, cpu());
  std::stringstream buf;
  BinaryWriter w(buf);
  a.save(w);
  const std::string bytes = buf.str();
  Lsa b;
  BinaryReader r(buf, "memory");
  b.load(r, 400);
  EXPECT_TRUE(bitwise_equal(a.transform(x, 1), b.transform(x, 1)));
  EXPECT_EQ(a.singular_values(), b.singular_values());
  // Another input width is an error naming the source.
  std::stringstream again(bytes);
  BinaryReader r2(again, "memory");
  Lsa c;
  try {
    c.load(r2, 401);
    ADD_FAILURE() << "width mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("memory"), std::string::npos) << e.what();
  }
}

// The CPU body again on CUDA, skipped where LibTorch sees no GPU.
TEST(LsaCuda, MatchesCpu) {
  std::unique_ptr<DenseSolver> gpu;
  try {
    gpu = make_torch_dense_solver(Context{Device::kCuda, 0, 2});
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  SparseRows x = low_rank(300, 2000, 6, 15);
  LsaOptions o;
  o.dim = 10;
  Lsa on_gpu, on_cpu;
  on_gpu.fit(x, *gpu, o, Context{Device::kCuda, 3, 2});
  on_cpu.fit(x, *make_torch_dense_solver(cpu()), o, cpu(3));
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_NEAR(on_gpu.singular_values()[i], on_cpu.singular_values()[i],
                1e-3 * on_cpu.singular_values()[i]);
  Matrix zg = on_gpu.transform(x, 2), zc = on_cpu.transform(x, 2);
  for (std::size_t i = 0; i < zg.rows(); ++i)
    for (std::size_t k = 0; k < 6; ++k)
      ASSERT_NEAR(zg(i, k), zc(i, k), 1e-3 * on_cpu.singular_values()[0]);
}

}  // namespace
}  // namespace deferbench
