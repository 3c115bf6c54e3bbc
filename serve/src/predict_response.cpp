// Writing TF Serving predict responses and error bodies (see predict_json.h).
#include <fmt/format.h>

#include <cmath>

#include "doppel/io/json.h"
#include "doppel/serve/predict_json.h"

namespace doppel::serve {

namespace json = io::json;

namespace {

template <typename T>
void append_scalar(std::string& out, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    fmt::format_to(std::back_inserter(out), "{}", int64_t(v));
  } else {
    // float16/bfloat16 print through float; fmt writes the shortest text that round-trips.
    using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const F f = F(v);
    if (std::isnan(f))
      out += "NaN";
    else if (std::isinf(f))
      out += f > 0 ? "Infinity" : "-Infinity";
    else
      fmt::format_to(std::back_inserter(out), "{}", f);
  }
}

// Row-major nested lists of the contiguous elements `p`, dimensions shape[d:].
template <typename T>
const T* append_nested(std::string& out, const T* p, const Shape& shape, size_t d) {
  if (d == shape.size()) {
    append_scalar(out, *p);
    return p + 1;
  }
  out += '[';
  for (int64_t i = 0; i < shape[d]; ++i) {
    if (i) out += ',';
    p = append_nested(out, p, shape, d + 1);
  }
  out += ']';
  return p;
}

// Example `row` (a slice along dimension 0) of `t`, which must be contiguous with dim() >= 1.
void append_row_json(std::string& out, const Tensor& t, int64_t row) {
  Shape inner(t.shape().begin() + 1, t.shape().end());
  int64_t row_numel = 1;
  for (const int64_t s : inner) row_numel *= s;
  DOPPEL_DISPATCH_ALL(t.dtype(), "predict response", [&]<typename scalar_t>() {
    append_nested(out, static_cast<const scalar_t*>(t.raw_data()) + row * row_numel, inner, 0);
  });
}

}  // namespace

void append_tensor_json(std::string& out, const Tensor& t) {
  DOPPEL_CHECK_DEVICE(t.device().is_cpu(), "predict response: output on {}; expected CPU", t.device().str());
  const Tensor c = contiguous_of(t);
  DOPPEL_DISPATCH_ALL(c.dtype(), "predict response", [&]<typename scalar_t>() {
    append_nested(out, static_cast<const scalar_t*>(c.raw_data()), c.shape(), 0);
  });
}

std::string format_predict_response(RequestFormat format, std::span<const std::string> output_names,
                                    std::span<const Tensor> outputs) {
  DOPPEL_INTERNAL_ASSERT(output_names.size() == outputs.size());
  std::string out;
  if (format == RequestFormat::Columnar) {
    out += "{\"outputs\":";
    if (outputs.size() == 1) {
      append_tensor_json(out, outputs[0]);
    } else {
      out += '{';
      for (size_t i = 0; i < outputs.size(); ++i) {
        if (i) out += ',';
        out += json::quote(output_names[i]);
        out += ':';
        append_tensor_json(out, outputs[i]);
      }
      out += '}';
    }
    out += '}';
    return out;
  }
  // Row format: one entry per example; several outputs make one object per example.
  std::vector<Tensor> dense;
  for (size_t i = 0; i < outputs.size(); ++i) {
    DOPPEL_CHECK_SHAPE(outputs[i].dim() >= 1,
                       "predict: output '{}' is 0-d and has no batch dimension; send the request in the columnar "
                       "format (\"inputs\") to receive it",
                       output_names[i]);
    DOPPEL_CHECK_SHAPE(outputs[i].size(0) == outputs[0].size(0),
                       "predict: outputs '{}' and '{}' have different batch sizes ({} and {}); send the request in the "
                       "columnar format (\"inputs\")",
                       output_names[0], output_names[i], outputs[0].size(0), outputs[i].size(0));
    dense.push_back(contiguous_of(outputs[i]));
  }
  out += "{\"predictions\":";
  if (dense.size() == 1) {
    append_tensor_json(out, dense[0]);
  } else {
    out += '[';
    for (int64_t r = 0; r < (dense.empty() ? 0 : dense[0].size(0)); ++r) {
      if (r) out += ',';
      out += '{';
      for (size_t i = 0; i < dense.size(); ++i) {
        if (i) out += ',';
        out += json::quote(output_names[i]);
        out += ':';
        append_row_json(out, dense[i], r);
      }
      out += '}';
    }
    out += ']';
  }
  out += '}';
  return out;
}

std::string error_json(std::string_view message) {
  std::string m(message);
  if (!json::is_valid_utf8(m))  // messages may quote request bytes; keep the response valid JSON
    for (char& c : m)
      if (uint8_t(c) >= 0x80) c = '?';
  return "{\"error\":" + json::quote(m) + "}";
}

}  // namespace doppel::serve
