// .npy I/O: files written by numpy (tests/serve/data, from make_npy_fixtures.py) read back with
// the values numpy stored (every shared dtype, C and Fortran order, both byte orders, versions
// 1.0 and 2.0, 0-d and empty); doppel's writer produces numpy's exact bytes; every defect of a
// file is a FormatError naming it.
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "support/test_util.h"
#include "doppel/serve/npy.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;

std::string fixture_path(const std::string& name) {
  return std::string(DOPPEL_SOURCE_DIR) + "/tests/serve/data/" + name + ".npy";
}

std::vector<uint8_t> fixture_bytes(const std::string& name) {
  std::ifstream in(fixture_path(name), std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_CASE("npy: numpy's files of every shared dtype read back with numpy's values", "[serve]") {
  {
    const Tensor t = serve::load_npy(fixture_path("f4_c"));
    CHECK(t.dtype() == DType::Float32);
    CHECK(t.shape() == Shape{2, 3});
    const auto v = t.to_vector<float>();
    for (int i = 0; i < 6; ++i) CHECK(v[i] == float(i) / 4);
  }
  {
    const Tensor t = serve::load_npy(fixture_path("f8_be_v2"));  // big-endian, format 2.0
    CHECK(t.dtype() == DType::Float64);
    CHECK(t.shape() == Shape{1, 3});
    CHECK(t.to_vector<double>() == std::vector<double>{1e300, -2.5, 0.125});
  }
  {
    const Tensor t = serve::load_npy(fixture_path("f2_0d"));
    CHECK(t.dtype() == DType::Float16);
    CHECK(t.dim() == 0);
    CHECK(float(t.data_ptr<float16>()[0]) == 1.5f);
  }
  CHECK(serve::load_npy(fixture_path("i1")).to_vector<int64_t>() == std::vector<int64_t>{-128, 0, 127});
  CHECK(serve::load_npy(fixture_path("u1")).dtype() == DType::UInt8);
  CHECK(serve::load_npy(fixture_path("u1")).to_vector<int64_t>() == std::vector<int64_t>{0, 255, 7});
  {
    const Tensor t = serve::load_npy(fixture_path("i4_be_fortran"));  // big-endian and column-major
    CHECK(t.dtype() == DType::Int32);
    REQUIRE(t.shape() == Shape{2, 3, 4});
    CHECK(t.is_contiguous());
    const auto v = t.to_vector<int32_t>();
    for (int i = 0; i < 24; ++i) CHECK(v[i] == -7 * i);
  }
  {
    const Tensor t = serve::load_npy(fixture_path("f4_fortran"));
    const auto v = t.to_vector<float>();
    for (int i = 0; i < 6; ++i) CHECK(v[i] == float(i) / 4);
  }
  {
    const Tensor t = serve::load_npy(fixture_path("i8_empty"));
    CHECK(t.dtype() == DType::Int64);
    CHECK(t.shape() == Shape{0, 3});
  }
  {
    const Tensor t = serve::load_npy(fixture_path("b1"));
    CHECK(t.dtype() == DType::Bool);
    CHECK(t.to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  }
}

TEST_CASE("npy: the writer produces numpy's exact bytes and round-trips every dtype", "[serve]") {
  // numpy writes C-order little-endian arrays as version 1.0 with a 64-byte-aligned header.
  for (const char* name : {"f4_c", "f2_0d", "i1", "u1", "i8_empty", "b1"}) {
    INFO(name);
    const auto bytes = fixture_bytes(name);
    const std::string written = serve::serialize_npy(serve::parse_npy(bytes));
    CHECK(written == std::string(bytes.begin(), bytes.end()));
  }
  // Non-native inputs come back as native C order with the same values.
  for (const char* name : {"f8_be_v2", "i4_be_fortran", "f4_fortran"}) {
    INFO(name);
    const Tensor t = serve::parse_npy(fixture_bytes(name));
    const std::string s = serve::serialize_npy(t);
    const Tensor u = serve::parse_npy({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    CHECK(u.shape() == t.shape());
    CHECK(u.to_vector<double>() == t.to_vector<double>());
  }
  // A strided (transposed) view is written in its logical row-major order.
  const Tensor base = serve::parse_npy(fixture_bytes("f4_c"));
  const Tensor transposed = make_view(base, {3, 2}, {1, 3}, 0);
  const std::string s = serve::serialize_npy(transposed);
  const Tensor u = serve::parse_npy({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  CHECK(u.shape() == Shape{3, 2});
  CHECK(u.to_vector<float>() == std::vector<float>{0, 0.75f, 0.25f, 1, 0.5f, 1.25f});
  const Tensor bf = make_tensor({2}, DType::BFloat16);
  CHECK_THROWS_AS(serve::serialize_npy(bf), DTypeError);
}

TEST_CASE("npy: malformed files are FormatErrors naming the problem", "[serve]") {
  const auto good = fixture_bytes("f4_c");
  auto parse = [](const std::vector<uint8_t>& b) { return serve::parse_npy(b, "npy file 'x.npy'"); };
  auto with_header = [&](const std::string& dict, size_t data_bytes) {
    std::string h = dict;
    h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    std::string file = std::string("\x93NUMPY\x01\x00", 8) + char(h.size() & 0xff) + char(h.size() >> 8) + h;
    file.append(data_bytes, '\0');
    return std::vector<uint8_t>(file.begin(), file.end());
  };
  // Every truncation of a valid file fails cleanly.
  for (size_t n = 0; n < good.size(); ++n) {
    const std::vector<uint8_t> cut(good.begin(), good.begin() + n);
    CHECK_THROWS_AS(parse(cut), FormatError);
  }
  CHECK_THAT(error_message<FormatError>([&] {
               parse({good.begin(), good.end() - 1});
             }),
             ContainsSubstring("npy file 'x.npy'") && ContainsSubstring("truncated") &&
                 ContainsSubstring("needs 24 data bytes but the file has 23"));
  auto extra = good;
  extra.push_back(0);
  CHECK_THAT(error_message<FormatError>([&] { parse(extra); }), ContainsSubstring("trailing bytes"));
  auto bad_magic = good;
  bad_magic[1] = 'X';
  CHECK_THAT(error_message<FormatError>([&] { parse(bad_magic); }), ContainsSubstring("magic"));
  auto bad_version = good;
  bad_version[6] = 9;
  CHECK_THAT(error_message<FormatError>([&] { parse(bad_version); }), ContainsSubstring("version 9.0"));
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  CHECK_NOTHROW(parse(with_header(ok, 8)));
  CHECK_NOTHROW(parse(with_header("{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,)}", 8)));
  for (const auto& [dict, needle] : std::vector<std::pair<std::string, std::string>>{
           {"{'descr': '<f4', 'fortran_order': False}", "must have"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", "negative"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unknown key 'x'"},
           {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", "duplicate key"},
           {"{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,)}", "True or False"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "expected"},
           {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", "structured"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999)}", "64 bits"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", "after the header"},
       }) {
    INFO(dict);
    CHECK_THAT(error_message<FormatError>([&] { parse(with_header(dict, 8)); }), ContainsSubstring(needle));
  }
  // Bool bytes other than 0/1 would be undefined behaviour in C++: rejected.
  auto bad_bool = with_header("{'descr': '|b1', 'fortran_order': False, 'shape': (2,)}", 2);
  bad_bool.back() = 7;
  CHECK_THAT(error_message<FormatError>([&] { parse(bad_bool); }), ContainsSubstring("byte value 7"));
  CHECK_THAT(error_message<DTypeError>([&] { serve::load_npy(fixture_path("c8_unsupported")); }),
             ContainsSubstring("'<c8'"));
  CHECK_THAT(error_message<ValueError>([&] { serve::load_npy("/nonexistent/x.npy"); }),
             ContainsSubstring("/nonexistent/x.npy"));
}

TEST_CASE("npy: save_npy writes a file load_npy reads back", "[serve]") {
  const auto path = std::filesystem::temp_directory_path() / fmt::format("doppel_npy_{}.npy", ::getpid());
  const Tensor t = serve::parse_npy(fixture_bytes("i4_be_fortran"));
  serve::save_npy(path.string(), t);
  CHECK(serve::load_npy(path.string()).to_vector<int32_t>() == t.to_vector<int32_t>());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace doppel::testing
