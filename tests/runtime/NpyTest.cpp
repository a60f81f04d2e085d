// .npy reading/writing and the exact refusal for each unsupported file.
#include "runtime/Npy.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace sinter {
namespace {

std::string npyBytes(std::string_view header, size_t dataBytes, char major = 1) {
  std::string h(header);
  size_t pre = major == 1 ? 10 : 12;
  h.append((64 - (pre + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::string out = std::string("\x93NUMPY", 6) + major + '\0';
  uint32_t len = static_cast<uint32_t>(h.size());
  out.append(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
  out += h;
  out.append(dataBytes, '\0');
  return out;
}

TEST(Npy, WritesAndReadsBack) {
  auto dir = std::filesystem::temp_directory_path() / "sinter_npy_test";
  std::filesystem::create_directories(dir);
  for (TensorType t : {TensorType{DType::F32, {2, 3}}, TensorType{DType::I64, {4}}, TensorType{DType::F32, {}}}) {
    Tensor x = test::randomTensor(t, 5, -100, 100);
    std::string path = (dir / "x.npy").string();
    ASSERT_FALSE(writeNpy(path, x));
    auto y = readNpy(path);
    ASSERT_TRUE(y) << y.error().message();
    EXPECT_TRUE(y->identical(x)) << t.str();
  }
  EXPECT_EQ(writeNpy((dir / "b.npy").string(), Tensor({DType::F64, {1}})).message(),
            (dir / "b.npy").string() + ": cannot write f64 as .npy (float32 and int64 only)");
}

TEST(Npy, ReadsVersion2AndPython2Longs) {
  auto t = parseNpy(npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 1L), }", 16, 2));
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->type().str(), "i64[2,1]");
}

TEST(Npy, RefusesWhatItCannotRead) {
  EXPECT_EQ(parseNpy("hello").error().message(), "not a .npy file (missing the \\x93NUMPY magic)");
  EXPECT_EQ(parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24)).error().message(),
            "dtype float64 ('<f8') is not supported: save float32 ('<f4') or int64 ('<i8')");
  EXPECT_EQ(parseNpy(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", 12)).error().message(),
            "dtype big-endian ('>f4') is not supported: save float32 ('<f4') or int64 ('<i8')");
  EXPECT_EQ(parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16)).error().message(),
            "Fortran-order arrays are not supported: save np.ascontiguousarray(x)");
  EXPECT_EQ(parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 15)).error().message(),
            "f32[2,2] needs 16 bytes of data, the file has 15");
  EXPECT_EQ(parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }", 0))
                .error()
                .message(),
            "shape [99999999999,99999999999,99999999999] is too large");
  EXPECT_EQ(parseNpy(npyBytes("{'descr': '<f4', 'shape': (2,), }", 8)).error().message(),
            ".npy header lacks descr, fortran_order or shape");
  std::string truncated = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8).substr(0, 30);
  EXPECT_EQ(parseNpy(truncated).error().message(), "truncated .npy header");
  EXPECT_EQ(readNpy("/nonexistent/x.npy").error().message(), "/nonexistent/x.npy: cannot open: No such file or directory");
}

} // namespace
} // namespace sinter
