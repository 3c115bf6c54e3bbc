#pragma once
// The ONNX model being built, as plain structs (the subset of onnx.proto the export writes),
// and its serialization to a ModelProto.
#include <cstdint>
#include <string>
#include <vector>

namespace doppel::onnx::detail {

// onnx.proto's TensorProto.DataType values.
enum class OnnxType : int32_t {
  undefined = 0,
  float32 = 1,
  uint8 = 2,
  int8 = 3,
  int32 = 6,
  int64 = 7,
  boolean = 9,
  float16 = 10,
  float64 = 11,
  bfloat16 = 16,
};

struct OnnxTensor {
  std::string name;
  OnnxType type = OnnxType::float32;
  std::vector<int64_t> dims;
  std::string raw;  // little-endian, row-major
  std::string doc;
};

struct OnnxAttr {
  enum class Kind { Int, Float, Ints, String, Tensor };
  std::string name;
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::string s;
  OnnxTensor t;
  static OnnxAttr of_int(std::string n, int64_t v) { return {std::move(n), Kind::Int, v, 0, {}, {}, {}}; }
  static OnnxAttr of_float(std::string n, double v) { return {std::move(n), Kind::Float, 0, float(v), {}, {}, {}}; }
  static OnnxAttr of_ints(std::string n, std::vector<int64_t> v) {
    return {std::move(n), Kind::Ints, 0, 0, std::move(v), {}, {}};
  }
  static OnnxAttr of_tensor(std::string n, OnnxTensor v) {
    return {std::move(n), Kind::Tensor, 0, 0, {}, {}, std::move(v)};
  }
};

struct OnnxNode {
  std::string op_type;
  std::string name;
  std::vector<std::string> inputs;  // "" for an absent optional input
  std::vector<std::string> outputs;
  std::vector<OnnxAttr> attrs;
  std::string doc;
};

// A dimension: a value, a symbol (dim_param), or unknown (neither).
struct OnnxDim {
  int64_t value = -1;
  std::string param;
};

struct OnnxValueInfo {
  std::string name;
  OnnxType type = OnnxType::float32;
  std::vector<OnnxDim> dims;
  std::string doc;
};

struct OnnxModel {
  int64_t ir_version = 8;
  int64_t opset = 17;
  std::string producer_name = "doppel";
  std::string producer_version;
  std::string doc;
  std::string graph_name;
  std::vector<OnnxNode> nodes;
  std::vector<OnnxTensor> initializers;
  std::vector<OnnxValueInfo> inputs;
  std::vector<OnnxValueInfo> outputs;
};

// The ModelProto's bytes.
std::string serialize(const OnnxModel& m);

}  // namespace doppel::onnx::detail
