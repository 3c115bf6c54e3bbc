#pragma once
// The JSON bodies of the KServe v2 / Open Inference Protocol REST API (what Triton and
// tritonclient speak), converted straight to and from tensors:
//
//   request:  {"id": "...", "parameters": {"binary_data_output": bool},
//              "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [...]}, ...],
//              "outputs": [{"name": "y", "parameters": {"binary_data": bool}}, ...]}
//   response: {"model_name": "...", "model_version": "1", "id": "...",
//              "outputs": [{"name": "y", "datatype": "FP32", "shape": [2, 3], "data": [...]}]}
//
// "data" is row-major, flat or nested. Triton's binary tensor data extension is supported both
// ways: an input with "parameters": {"binary_data_size": N} takes its N bytes (little-endian,
// row-major) from the bytes after the JSON part of the body, whose length the
// Inference-Header-Content-Length header gives; an output asked for with "binary_data" (or all
// outputs with "binary_data_output") is sent the same way. Every defect is a typed error naming
// the input (FormatError malformed JSON, DTypeError a datatype that is not the input's,
// ShapeError data that does not fill the shape, ValueError anything else).
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/serve/predict_json.h"

namespace doppel::serve {

// The v2 name of a dtype ("FP32", "INT64", "BOOL", ...).
std::string_view kserve_datatype(DType dtype);

struct InferRequest {
  std::string id;              // echoed in the response ("" when the request had none)
  std::vector<Tensor> inputs;  // one per InputSpec, in the specs' order
  // The outputs asked for, in the order asked; empty: all outputs.
  std::vector<std::string> outputs;
  std::vector<bool> binary;         // parallel to `outputs`: send that output as binary data
  bool binary_data_output = false;  // every output as binary data
};

// `json` is the JSON part of the body, `binary` the bytes after it ("" without the extension).
InferRequest parse_infer_request(std::string_view json, std::string_view binary, std::span<const InputSpec> inputs);

struct InferResponse {
  std::string json;    // the JSON part
  std::string binary;  // binary output data after it ("" when no output is binary)
};

// The response for the model's outputs `outputs` (named `output_names`, in signature order) as
// `request` asked for them; ValueError for an output name the model does not have.
InferResponse format_infer_response(const InferRequest& request, std::string_view model_name, int64_t version,
                                    std::span<const std::string> output_names, std::span<const Tensor> outputs);

}  // namespace doppel::serve
