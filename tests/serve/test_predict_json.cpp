// TF Serving predict bodies: row ("instances") and columnar ("inputs") requests become tensors
// of the inputs' dtypes with the shapes the nesting gives; responses are the nested lists
// TF Serving writes; every malformed or mismatched body is a typed error naming the input.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cmath>
#include <limits>

#include "doppel/io/json.h"
#include "doppel/serve/predict_json.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;
using serve::InputSpec;
using serve::RequestFormat;

const std::vector<InputSpec> kOne = {{"x", DType::Float32}};
const std::vector<InputSpec> kTwo = {{"x", DType::Float32}, {"ids", DType::Int64}};

TEST_CASE("predict json: row and columnar requests give the same tensors", "[serve]") {
  const auto row = serve::parse_predict_request(R"({"instances": [[1, 2.5, -3e-1], [4, 5, 6]]})", kOne);
  CHECK(row.format == RequestFormat::Row);
  REQUIRE(row.inputs.size() == 1);
  CHECK(row.inputs[0].dtype() == DType::Float32);
  CHECK(row.inputs[0].shape() == Shape{2, 3});
  CHECK(row.inputs[0].to_vector<float>() == std::vector<float>{1, 2.5f, -0.3f, 4, 5, 6});
  const auto col = serve::parse_predict_request(R"( {"signature_name": "serving_default",
      "inputs": [[1, 2.5, -3e-1], [4, 5, 6]]} )",
                                                kOne);
  CHECK(col.format == RequestFormat::Columnar);
  CHECK(col.inputs[0].shape() == Shape{2, 3});
  CHECK(col.inputs[0].to_vector<float>() == row.inputs[0].to_vector<float>());
  // Named row-format instances of a single-input model, and scalar examples.
  const auto named = serve::parse_predict_request(R"({"instances": [{"x": [1, 2]}, {"x": [3, 4]}]})", kOne);
  CHECK(named.inputs[0].shape() == Shape{2, 2});
  const auto scalars = serve::parse_predict_request(R"({"instances": [1, 2, 3]})", kOne);
  CHECK(scalars.inputs[0].shape() == Shape{3});
  const auto zero_d = serve::parse_predict_request(R"({"inputs": 7})", kOne);
  CHECK(zero_d.inputs[0].dim() == 0);
  const auto empty = serve::parse_predict_request(R"({"inputs": [[], []]})", kOne);
  CHECK(empty.inputs[0].shape() == Shape{2, 0});
}

TEST_CASE("predict json: multi-input requests are keyed by name, in any order", "[serve]") {
  const auto row = serve::parse_predict_request(
      R"({"instances": [{"ids": [1, -2], "x": [[0.5]]}, {"x": [[1.5]], "ids": [9223372036854775807, 0]}]})", kTwo);
  REQUIRE(row.inputs.size() == 2);
  CHECK(row.inputs[0].shape() == Shape{2, 1, 1});
  CHECK(row.inputs[0].to_vector<float>() == std::vector<float>{0.5f, 1.5f});
  CHECK(row.inputs[1].dtype() == DType::Int64);
  CHECK(row.inputs[1].shape() == Shape{2, 2});
  // int64 values beyond 2^53 survive exactly (no detour through double).
  CHECK(row.inputs[1].to_vector<int64_t>() == std::vector<int64_t>{1, -2, std::numeric_limits<int64_t>::max(), 0});
  const auto col = serve::parse_predict_request(R"({"inputs": {"ids": [3], "x": [[[2]]]}})", kTwo);
  CHECK(col.inputs[0].shape() == Shape{1, 1, 1});
  CHECK(col.inputs[1].to_vector<int64_t>() == std::vector<int64_t>{3});
}

TEST_CASE("predict json: every dtype converts with range checks", "[serve]") {
  auto one = [](DType dt, const std::string& body) {
    const std::vector<InputSpec> spec = {{"v", dt}};
    return serve::parse_predict_request(body, spec).inputs[0];
  };
  CHECK(one(DType::Float64, R"({"inputs": [1e300, 1e-400, -0.0]})").to_vector<double>() ==
        std::vector<double>{1e300, 0.0, -0.0});
  CHECK(one(DType::Float16, R"({"inputs": [0.5, 65504]})").to_vector<float>() == std::vector<float>{0.5f, 65504});
  CHECK(one(DType::BFloat16, R"({"inputs": [2, -0.5]})").to_vector<float>() == std::vector<float>{2, -0.5f});
  CHECK(one(DType::Int8, R"({"inputs": [-128, 127]})").to_vector<int64_t>() == std::vector<int64_t>{-128, 127});
  CHECK(one(DType::UInt8, R"({"inputs": [0, 255]})").to_vector<int64_t>() == std::vector<int64_t>{0, 255});
  CHECK(one(DType::Int32, R"({"inputs": [-2147483648]})").to_vector<int64_t>() == std::vector<int64_t>{-2147483648LL});
  CHECK(one(DType::Bool, R"({"inputs": [true, false]})").to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  for (const auto& [dt, body, needle] : std::vector<std::tuple<DType, std::string, std::string>>{
           {DType::Float32, R"({"inputs": [1e39]})", "1e39 is out of range"},
           {DType::Float64, R"({"inputs": [1e400]})", "out of range"},
           {DType::Float16, R"({"inputs": [70000]})", "out of range"},
           {DType::Int8, R"({"inputs": [128]})", "out of range [-128, 127]"},
           {DType::UInt8, R"({"inputs": [-1]})", "out of range [0, 255]"},
           {DType::Int64, R"({"inputs": [99999999999999999999]})", "out of range"},
           {DType::Int32, R"({"inputs": [1.5]})", "integer literals"},
           {DType::Int32, R"({"inputs": [1e3]})", "integer literals"},
           {DType::Float32, R"({"inputs": [true]})", "boolean"},
           {DType::Bool, R"({"inputs": [1]})", "send true or false"},
           {DType::Float32, R"({"inputs": ["a"]})", "string"},
           {DType::Float32, R"({"inputs": [null]})", "null"},
           {DType::Float32, R"({"inputs": [{"b64": "AA=="}]})", "b64"},
       }) {
    INFO(body);
    CHECK_THAT(error_message<DTypeError>([&] { one(dt, body); }),
               ContainsSubstring("input 'v'") && ContainsSubstring(needle));
  }
}

TEST_CASE("predict json: NaN, Infinity and -Infinity literals reach floating inputs", "[serve]") {
  // Not JSON, but TF Serving reads them and our responses write them.
  auto one = [](DType dt, const std::string& body) {
    const std::vector<InputSpec> spec = {{"v", dt}};
    return serve::parse_predict_request(body, spec).inputs[0];
  };
  const auto inf = std::numeric_limits<double>::infinity();
  for (const DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    INFO(dtype_name(dt));
    const auto v = one(dt, R"({"instances": [[NaN, Infinity], [-Infinity, -0.0]]})").to_vector<double>();
    REQUIRE(v.size() == 4);
    CHECK(std::isnan(v[0]));
    CHECK(v[1] == inf);
    CHECK(v[2] == -inf);
    CHECK((v[3] == 0 && std::signbit(v[3])));
  }
  CHECK(one(DType::Float32, R"({"inputs": [-1, -Infinity, -2]})").to_vector<float>() ==
        std::vector<float>{-1, -float(inf), -2});
  for (const auto& [dt, body, needle] : std::vector<std::tuple<DType, std::string, std::string>>{
           {DType::Int64, R"({"inputs": [NaN]})", "got NaN; only floating inputs"},
           {DType::Int32, R"({"inputs": [-Infinity]})", "got -Infinity"},
           {DType::Bool, R"({"inputs": [Infinity]})", "got Infinity"},
       }) {
    INFO(body);
    CHECK_THAT(error_message<DTypeError>([&] { one(dt, body); }),
               ContainsSubstring("input 'v'") && ContainsSubstring(needle));
  }
  // Misspellings stay JSON syntax errors.
  for (const std::string body : {R"({"inputs": [Nan]})", R"({"inputs": [Inf]})", R"({"inputs": [-Inf]})"}) {
    INFO(body);
    CHECK_THAT(error_message<FormatError>([&] { one(DType::Float32, body); }), ContainsSubstring("expected"));
  }
}

TEST_CASE("predict json: malformed and mismatched bodies are typed errors naming the input", "[serve]") {
  for (const char* bad : {"", "{", "{\"instances\": [1, 2,]}", "{\"instances\": [1 2]}", "[1]x", "{\"inputs\": 01}",
                          "{\"inputs\": [1]} trailing", "{\"inputs\": \"\\ud800\"}"}) {
    INFO(bad);
    CHECK_THROWS_AS(serve::parse_predict_request(bad, kOne), Error);
  }
  CHECK_THROWS_AS(serve::parse_predict_request("{\"inputs\": [1, 2,]}", kOne), FormatError);
  CHECK_THROWS_AS(serve::parse_predict_request("{\"inputs\": \"\xff\"}", kOne), FormatError);
  // Nesting beyond the dimension limit stops at a fixed depth instead of overflowing the stack.
  const std::string deep = "{\"inputs\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_THAT(error_message<ValueError>([&] { serve::parse_predict_request(deep, kOne); }),
             ContainsSubstring("deeper than 32"));
  for (const auto& [body, needle] : std::vector<std::pair<std::string, std::string>>{
           {R"({"instances": [[1, 2], [3]]})", "length 1 at depth 1 where earlier lists had length 2"},
           {R"({"instances": [[1, 2], 3]})", "a number at depth 1"},
           {R"({"instances": [1, [2]]})", "a list at depth 1"},
           {R"({"inputs": [[[1]], [[2, 3]]]})", "ragged"},
       }) {
    INFO(body);
    CHECK_THAT(error_message<ShapeError>([&] { serve::parse_predict_request(body, kOne); }),
               ContainsSubstring("input 'x'") && ContainsSubstring(needle));
  }
  for (const auto& [body, needle] : std::vector<std::pair<std::string, std::string>>{
           {R"([1, 2])", "must be a JSON object"},
           {R"({})", "missing \"instances\""},
           {R"({"instances": []})", "is empty"},
           {R"({"instances": [1], "inputs": [1]})", "exactly one"},
           {R"({"instance": [1]})", "unknown key \"instance\""},
           {R"({"signature_name": "other", "inputs": [1]})", "unknown signature_name \"other\""},
           {R"({"instances": [[1], {"x": [1]}]})", "instance 1 is an object"},
       }) {
    INFO(body);
    CHECK_THAT(error_message<ValueError>([&] { serve::parse_predict_request(body, kOne); }), ContainsSubstring(needle));
  }
  for (const auto& [body, needle] : std::vector<std::pair<std::string, std::string>>{
           {R"({"instances": [[1]]})", "each instance must be an object"},
           {R"({"inputs": [1]})", "must be an object keyed by input name"},
           {R"({"inputs": {"x": [1]}})", "input 'ids' is missing"},
           {R"({"inputs": {"x": [1], "ids": [1], "y": [2]}})", "unknown input \"y\" (the model's inputs: 'x', 'ids')"},
           {R"({"inputs": {"x": [1], "x": [1], "ids": [1]}})", "input 'x' given twice"},
           {R"({"instances": [{"x": [1], "ids": [1]}, {"x": [1]}]})", "missing in instance 1"},
       }) {
    INFO(body);
    CHECK_THAT(error_message<ValueError>([&] { serve::parse_predict_request(body, kTwo); }), ContainsSubstring(needle));
  }
}

TEST_CASE("predict json: responses are TF Serving's nested lists and parse as JSON", "[serve]") {
  const auto req = serve::parse_predict_request(R"({"inputs": [[0.1, -2], [1e-7, 3]]})", kOne);
  const Tensor f = req.inputs[0];
  Tensor ids = make_tensor({2}, DType::Int64);
  ids.data_ptr<int64_t>()[0] = -5, ids.data_ptr<int64_t>()[1] = 7;
  const std::vector<std::string> one_name = {"y"};
  CHECK(serve::format_predict_response(RequestFormat::Row, one_name, std::vector<Tensor>{f}) ==
        R"({"predictions":[[0.1,-2],[1e-07,3]]})");
  CHECK(serve::format_predict_response(RequestFormat::Columnar, one_name, std::vector<Tensor>{f}) ==
        R"({"outputs":[[0.1,-2],[1e-07,3]]})");
  const std::vector<std::string> two_names = {"y", "ids"};
  const std::vector<Tensor> two = {f, ids};
  CHECK(serve::format_predict_response(RequestFormat::Row, two_names, two) ==
        R"({"predictions":[{"y":[0.1,-2],"ids":-5},{"y":[1e-07,3],"ids":7}]})");
  CHECK(serve::format_predict_response(RequestFormat::Columnar, two_names, two) ==
        R"({"outputs":{"y":[[0.1,-2],[1e-07,3]],"ids":[-5,7]}})");
  // Strided outputs are written in logical order; special floats as TF Serving writes them.
  Tensor special = make_tensor({3}, DType::Float64);
  special.data_ptr<double>()[0] = std::nan("");
  special.data_ptr<double>()[1] = INFINITY;
  special.data_ptr<double>()[2] = -INFINITY;
  std::string s;
  serve::append_tensor_json(s, special);
  CHECK(s == "[NaN,Infinity,-Infinity]");
  s.clear();
  serve::append_tensor_json(s, make_view(f, {2, 2}, {1, 2}, 0));
  CHECK(s == "[[0.1,1e-07],[-2,3]]");
  // Row format needs a batch dimension shared by every output.
  Tensor short_ids = make_tensor({1}, DType::Int64);
  CHECK_THROWS_AS(serve::format_predict_response(RequestFormat::Row, two_names, std::vector<Tensor>{f, short_ids}),
                  ShapeError);
  // Error bodies stay valid JSON whatever the message holds.
  const auto err = io::json::parse(serve::error_json("bad \"x\"\n\xff"), "error body");
  CHECK(err.find("error")->text == "bad \"x\"\n?");
}

}  // namespace
}  // namespace doppel::testing
