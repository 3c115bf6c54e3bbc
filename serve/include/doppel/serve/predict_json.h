#pragma once
// The JSON bodies of TensorFlow Serving's REST predict API, converted straight to and from
// tensors (https://www.tensorflow.org/tfx/serving/api_rest#predict_api):
//
//   row format:      {"instances": [<example>, ...]}   ->  {"predictions": [<example>, ...]}
//     an example is a tensor value (nested lists of numbers/bools; single-input models) or an
//     object keyed by input name; examples are stacked along a new leading (batch) dimension.
//   columnar format: {"inputs": <tensor value> | {"name": <tensor value>, ...}}
//                    ->  {"outputs": <tensor value> | {"name": <tensor value>, ...}}
//   errors:          {"error": "<message>"}
//
// The request reader streams numbers into tensor storage of the input's dtype instead of
// building a JSON tree, so memory stays a small multiple of the body size. It is strict: the
// JSON grammar (core's json::Lexer: UTF-8, escapes, nesting), ragged lists, numbers that do not
// fit the dtype, fractions or booleans given to an integer input, unknown or missing input
// names, and unknown top-level keys are all errors naming the input and the position. Floating
// inputs also take NaN, Infinity and -Infinity (not JSON, but what TF Serving reads and writes).
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::serve {

// What the reader needs to know about one model input.
struct InputSpec {
  std::string name;
  DType dtype;
};

// Examples: {"examples": [{"name": <value>, ...}, ...]}, the row format of :classify and
// :regress (each example an object keyed by input name).
enum class RequestFormat { Row, Columnar, Examples };

struct PredictRequest {
  RequestFormat format = RequestFormat::Row;
  std::vector<Tensor> inputs;  // one per InputSpec, in the specs' order
};

// Tensors have at most this many dimensions in a request (numpy's limit); deeper lists are
// rejected before the parser's recursion gets deep.
inline constexpr int kMaxRequestDims = 32;

// Parses a predict request body. Throws FormatError for malformed JSON and ValueError /
// DTypeError / ShapeError for well-formed JSON that does not fit the inputs.
PredictRequest parse_predict_request(std::string_view body, std::span<const InputSpec> inputs);

// The response body for `outputs` (named by `output_names`) in the request's format. The row
// format needs every output to have the same leading (batch) size; ShapeError otherwise.
std::string format_predict_response(RequestFormat format, std::span<const std::string> output_names,
                                    std::span<const Tensor> outputs);

// `t` as a JSON value (nested lists; NaN and infinities as NaN/Infinity/-Infinity like TF Serving).
void append_tensor_json(std::string& out, const Tensor& t);

// {"error": "<message>"} with the message quoted (invalid UTF-8 replaced).
std::string error_json(std::string_view message);

}  // namespace doppel::serve
