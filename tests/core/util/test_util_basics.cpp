#include <cmath>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include "core/data/binary_io.h"
#include "core/util/atomic_file.h"
#include "core/util/checksum.h"
#include "core/util/context.h"
#include "core/util/error.h"
#include "core/util/random.h"
#include "tests/test_util.h"

namespace deferbench {
namespace {

using ::testing::HasSubstr;

TEST(Error, FormatNamesFileLineFieldOnOneLine) {
  EXPECT_EQ(format_error({"a.csv", 3, "teacher"}, "expected a string"),
            "a.csv:3: field 'teacher': expected a string");
  EXPECT_EQ(format_error({"a.csv", 0, ""}, "empty file"), "a.csv: empty file");
  EXPECT_EQ(format_error({"", 0, ""}, "two\nlines"), "two lines");
  EXPECT_THROW(DB_ASSERT(1 + 1 == 3), std::logic_error);
}

TEST(AtomicFile, CommitRenamesAndAbandonLeavesNothing) {
  testing::TempDir dir;
  write_file_atomic(dir / "out.txt", "hello");
  std::ifstream in(dir / "out.txt");
  std::string s;
  in >> s;
  EXPECT_EQ(s, "hello");
  {
    AtomicFile f(dir / "never.txt");
    f.stream() << "partial";
  }  // destroyed without commit
  EXPECT_FALSE(std::filesystem::exists(dir / "never.txt"));
  EXPECT_EQ(testing::count_files(dir.path()), 1u);
}

TEST(BinaryIo, RoundTripAndTruncationIsAnError) {
  testing::TempDir dir;
  {
    AtomicFile f(dir / "x.bin");
    BinaryWriter w(f.stream());
    w.header("magic", 2);
    w.string("name");
    w.vector(std::vector<int>{1, 2, 3});
    w.matrix(Matrix(2, 2, std::vector<float>{1, 2, 3, 4}));
    f.commit();
  }
  std::ifstream in(dir / "x.bin", std::ios::binary);
  BinaryReader r(in, "x.bin");
  EXPECT_EQ(r.header("magic", 2), 2u);
  EXPECT_EQ(r.string(), "name");
  EXPECT_EQ(r.vector<int>(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(r.matrix().values(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_THAT([&] { r.pod<int>(); }, ::testing::ThrowsMessage<Error>(HasSubstr("truncated")));

  std::ifstream in2(dir / "x.bin", std::ios::binary);
  BinaryReader r2(in2, "x.bin");
  EXPECT_THAT([&] { r2.header("other", 1); },
              ::testing::ThrowsMessage<Error>(HasSubstr("not a other file")));
}

TEST(Context, DeriveGivesDistinctReproducibleSeeds) {
  Context c{Device::kCpu, 42, 2};
  EXPECT_EQ(c.derive(1).seed, c.derive(1).seed);
  EXPECT_NE(c.derive(1).seed, c.derive(2).seed);
  EXPECT_NE(c.derive(1).seed, 42u);
  EXPECT_EQ(c.derive(1).device, Device::kCpu);
  EXPECT_EQ(c.derive(1).threads, 2);
  EXPECT_GE(resolve_threads(0), 1);
  EXPECT_EQ(resolve_threads(3), 3);
}

TEST(Context, DeviceNamesParseWithTheirGpuNumber) {
  EXPECT_EQ(parse_device("cuda"), Device::kCuda);
  EXPECT_EQ(parse_device_request("cuda").index, 0);
  EXPECT_EQ(parse_device_request("cuda:3").device, Device::kCuda);
  EXPECT_EQ(parse_device_request("cuda:3").index, 3);
  EXPECT_EQ(parse_device_request("cpu").device, Device::kCpu);
  EXPECT_EQ(parse_device_request("auto").device, Device::kAuto);
  for (const char* bad : {"tpu", "cuda:", "cuda:x", "cuda:-1", "cuda:123456", "CPU"})
    EXPECT_THAT(
        [&] { parse_device_request(bad); },
        ::testing::ThrowsMessage<Error>(HasSubstr("cpu, cuda, cuda:N (N a GPU number), auto")))
        << bad;
}

TEST(Context, DispatchCallsTheBranchOfTheResolvedDevice) {
  Context cpu{Device::kCpu, 0, 1}, cuda{Device::kCuda, 0, 1, 2};
  auto which = [](const Context& c) { return c.dispatch([] { return 1; }, [] { return 2; }); };
  EXPECT_EQ(which(cpu), 1);
  EXPECT_EQ(which(cuda), 2);
  EXPECT_EQ(cuda.device_index, 2);
  EXPECT_FALSE((Context{Device::kAuto, 0, 1}.is_cuda()));  // nobody resolved it: the CPU
}

TEST(Rng, BoundedDrawsAreUniformAndNormalsStandard) {
  Rng rng(5);
  std::vector<int> counts(6, 0);
  const int n = 60000;
  for (int i = 0; i < n; ++i) ++counts[rng.below(6)];
  for (int c : counts) EXPECT_NEAR(c, n / 6.0, 4 * std::sqrt(n * (1 / 6.0) * (5 / 6.0)));
  double sum = 0, sq = 0;
  for (int i = 0; i < n; ++i) {
    double z = rng.normal();
    sum += z;
    sq += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 4 / std::sqrt(n));
  EXPECT_NEAR(sq / n, 1.0, 4 * std::sqrt(2.0 / n));
  // A fixed seed gives fixed values (the algorithm is ours, not the standard library's).
  Rng a(9), b(9);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.below(1000), b.below(1000));
}

// The randomized test's u (family.h): XXH3-64 of the bytes seeded by the salt, as a fraction in
// (0, 1]; the parts hash as one stream; random bytes give uniform draws.
TEST(HashedUnitDraw, IsTheSeededXxh3OfTheBytesAndUniformOverRandomBytes) {
  const std::string bytes = "calibration rows";
  const double expected =
      1.0 -
      static_cast<double>(XXH3_64bits_withSeed(bytes.data(), bytes.size(), 42) >> 11) * 0x1.0p-53;
  EXPECT_EQ(hashed_unit_draw({bytes}, 42), expected);
  EXPECT_EQ(hashed_unit_draw({"calibration", " rows"}, 42), expected);
  EXPECT_NE(hashed_unit_draw({bytes}, 43), expected);
  EXPECT_NE(hashed_unit_draw({"calibration rowS"}, 42), expected);
  constexpr int kDraws = 20000;
  Rng rng(5);
  int below_tenth = 0;
  double sum = 0;
  for (int i = 0; i < kDraws; ++i) {
    std::string b(16, '\0');
    for (char& c : b) c = static_cast<char>(rng.below(256));
    const double u = hashed_unit_draw({b}, 0x7E57);
    ASSERT_GT(u, 0.0);
    ASSERT_LE(u, 1.0);
    below_tenth += u <= 0.1;
    sum += u;
  }
  EXPECT_NEAR(static_cast<double>(below_tenth) / kDraws, 0.1, 4 * std::sqrt(0.09 / kDraws));
  EXPECT_NEAR(sum / kDraws, 0.5, 4 * std::sqrt(1.0 / 12 / kDraws));
}

}  // namespace
}  // namespace deferbench
