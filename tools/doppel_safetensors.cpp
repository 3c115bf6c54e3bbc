// doppel-safetensors: reads and writes safetensors files with doppel's own reader/writer, so
// that tests in other languages (tests/python/test_safetensors_interop.py) can check interop
// with the reference implementation without Python bindings.
//
//   doppel-safetensors write-reference OUT   the reference state dict (every dtype, 0-d, empty,
//                                            non-contiguous) with metadata; values are documented
//                                            in reference_tensors() below
//   doppel-safetensors dump FILE             prints {"metadata": {...}, "tensors": [{"name",
//                                            "dtype", "shape", "hex"}]} (tensors in file order)
//   doppel-safetensors copy IN OUT           load then save (re-serializes with doppel's writer)
//
// Exit status: 0 ok, 2 FormatError (message on stderr, prefixed "FormatError: "), 1 other errors.
#include <cstdio>
#include <iostream>
#include <string>

#include "doppel/core/tensor.h"
#include "doppel/io/json.h"
#include "doppel/io/safetensors.h"

namespace {

using namespace doppel;

// Element k of each tensor (row-major), chosen to be exact in every dtype involved:
//   float types: (k - 2.5) * 0.5        int8: (7k mod 200) - 100     uint8: 37k mod 256
//   int32: 100003k - 7                   int64: k * 10^12 - 3          bool: k mod 3 == 0
template <typename T>
Tensor filled(IntList shape, double (*f)(int64_t)) {
  Tensor t = make_tensor(shape, dtype_v<T>);
  T* p = t.data_ptr<T>();
  for (int64_t k = 0; k < t.numel(); ++k) p[k] = T(f(k));
  return t;
}
double float_value(int64_t k) { return (double(k) - 2.5) * 0.5; }

StateDict reference_tensors() {
  StateDict sd;
  sd.emplace_back("f32", filled<float>({2, 3}, float_value));
  sd.emplace_back("f64", filled<double>({3, 2}, float_value));
  sd.emplace_back("bf16", filled<bfloat16>({4}, float_value));
  sd.emplace_back("f16", filled<float16>({2, 2}, float_value));
  sd.emplace_back("i8", filled<int8_t>({5}, [](int64_t k) { return double((7 * k) % 200 - 100); }));
  sd.emplace_back("u8", filled<uint8_t>({2, 2, 2}, [](int64_t k) { return double((37 * k) % 256); }));
  sd.emplace_back("i32", filled<int32_t>({3}, [](int64_t k) { return double(100003 * k - 7); }));
  Tensor i64 = make_tensor({2, 2}, DType::Int64);
  for (int64_t k = 0; k < 4; ++k) i64.data_ptr<int64_t>()[k] = k * 1000000000000LL - 3;
  sd.emplace_back("i64", i64);
  sd.emplace_back("bool", filled<bool>({7}, [](int64_t k) { return double(k % 3 == 0); }));
  sd.emplace_back("scalar_f64", filled<double>({}, [](int64_t) { return 3.25; }));
  sd.emplace_back("empty_i32", make_tensor({0, 3}, DType::Int32));
  // [3, 2] transpose of a [2, 3] float32 tensor: written row-major as the transpose's values.
  const Tensor base = filled<float>({2, 3}, float_value);
  sd.emplace_back("f32_transposed", make_view(base, {3, 2}, {1, 3}, 0));
  return sd;
}

int dump(const std::string& path) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  std::string out = "{\"metadata\": {";
  bool first = true;
  for (const auto& [k, v] : f.metadata) {
    out += fmt::format("{}{}: {}", first ? "" : ", ", io::json::quote(k), io::json::quote(v));
    first = false;
  }
  out += "}, \"tensors\": [";
  first = true;
  for (const auto& [name, t] : f.tensors) {
    std::string hex;
    hex.reserve(t.nbytes() * 2);
    const auto* p = static_cast<const uint8_t*>(t.raw_data());
    for (size_t i = 0; i < t.nbytes(); ++i) hex += fmt::format("{:02x}", p[i]);
    out += fmt::format("{}{{\"name\": {}, \"dtype\": \"{}\", \"shape\": [{}], \"hex\": \"{}\"}}", first ? "" : ", ",
                       io::json::quote(name), io::safetensors_dtype_code(t.dtype()), fmt::join(t.shape(), ", "), hex);
    first = false;
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int usage() {
  std::cerr << "usage: doppel-safetensors write-reference OUT | dump FILE | copy IN OUT\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) return usage();
    const std::string cmd = argv[1];
    if (cmd == "write-reference" && argc == 3) {
      io::save_safetensors(argv[2], reference_tensors(),
                           {{"format", "doppel-reference"}, {"note", "caf\xc3\xa9 \xe2\x9c\x93 \"quoted\"\n"}});
      return 0;
    }
    if (cmd == "dump" && argc == 3) return dump(argv[2]);
    if (cmd == "copy" && argc == 4) {
      const io::SafetensorsFile f = io::load_safetensors(argv[2]);
      io::save_safetensors(argv[3], f.tensors, f.metadata);
      return 0;
    }
    return usage();
  } catch (const FormatError& e) {
    std::cerr << "FormatError: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
