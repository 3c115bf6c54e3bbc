// nn::Module mechanics: registration and naming, modes, in-place conversion, state dicts,
// gradients through containers.
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cmath>

#include "doppel/nn/nn.h"
#include "support/test_util.h"

namespace doppel::testing {

using Catch::Matchers::ContainsSubstring;

namespace {

std::vector<std::string> keys(const StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& [k, v] : sd) out.push_back(k);
  return out;
}

// A small custom module: two Linears, a buffer, and a non-persistent buffer.
class TwoLayer : public nn::Module {
 public:
  TwoLayer() : nn::Module("TwoLayer") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 3));
    scale = register_parameter("scale", ones({1}));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(3, 2, /*bias=*/false));
    counter = register_buffer("counter", zeros({2}));
    scratch = register_buffer("scratch", zeros({3}), /*persistent=*/false);
  }
  Tensor forward(const Tensor& x) override { return fc2->forward(relu(fc1->forward(x)) * scale); }
  std::shared_ptr<nn::Linear> fc1, fc2;
  Tensor scale, counter, scratch;
};

std::shared_ptr<nn::Sequential> small_convnet() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 4, .kernel = 3, .padding = 1}),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 3 * 3, 5), std::make_shared<nn::Dropout>(0.2),
      std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(5, 3)});
}

}  // namespace

TEST_CASE("nn: parameters, buffers and children are named and ordered by registration", "[nn_module]") {
  auto m = std::make_shared<TwoLayer>();
  CHECK(keys(m->named_parameters()) == std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "fc2.weight"});
  CHECK(keys(m->named_parameters(/*recurse=*/false)) == std::vector<std::string>{"scale"});
  CHECK(keys(m->named_buffers()) == std::vector<std::string>{"counter", "scratch"});
  CHECK(keys(m->state_dict()) ==
        std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "fc2.weight", "counter"});  // scratch is transient
  const auto params = m->parameters();
  REQUIRE(params.size() == 4);
  CHECK(params[1].is_same(m->fc1->weight));
  CHECK(params[1].shape() == Shape{3, 4});
  for (const Tensor& p : params) CHECK(p.requires_grad());
  CHECK(!m->counter.requires_grad());
  REQUIRE(m->children().size() == 2);
  CHECK(m->named_children()[1].first == "fc2");
  CHECK(m->child("fc1") == m->fc1);
  CHECK(m->parameter("scale").is_same(m->scale));
  CHECK_THROWS_AS(m->parameter("nope"), ValueError);

  auto seq = small_convnet();
  CHECK(keys(seq->state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "5.weight",
                                                            "5.bias", "8.weight", "8.bias", "1.running_mean",
                                                            "1.running_var", "1.num_batches_tracked"});
  CHECK(seq->modules().size() == 10);
  CHECK(seq->named_modules()[2].first == "1");
  CHECK(seq->size() == 9);
  CHECK((*seq)[-1]->type_name() == "Linear");
  CHECK(seq->at<nn::Linear>(5)->in_features == 36);
  CHECK_THROWS_AS(seq->at<nn::Linear>(0), ValueError);
  CHECK_THROWS_AS((*seq)[9], IndexError);

  // Nesting adds dotted prefixes.
  auto outer = std::make_shared<nn::Sequential>();
  outer->push_back(std::make_shared<TwoLayer>()).push_back(seq);
  CHECK(keys(outer->named_parameters())[1] == "0.fc1.weight");
  CHECK(keys(outer->named_parameters())[4] == "1.0.weight");
  CHECK(keys(outer->named_buffers())[2] == "1.1.running_mean");
  CHECK_THAT(outer->str(), ContainsSubstring("(1): Sequential(") && ContainsSubstring("(0): Conv2d(1, 4"));
}

TEST_CASE("nn: registration rejects bad names and non-leaf parameters", "[nn_module]") {
  nn::Module m("Custom");
  m.register_parameter("w", zeros({2}));
  CHECK_THROWS_AS(m.register_parameter("w", zeros({2})), ValueError);
  CHECK_THROWS_AS(m.register_buffer("w", zeros({2})), ValueError);
  CHECK_THROWS_AS(m.register_parameter("a.b", zeros({2})), ValueError);
  CHECK_THROWS_AS(m.register_parameter("", zeros({2})), ValueError);
  CHECK_THROWS_AS(m.register_parameter("u", Tensor{}), ValueError);
  Tensor leaf = ones({2}).set_requires_grad(true);
  CHECK_THROWS_AS(m.register_parameter("v", leaf * 2.0), ValueError);
  CHECK_THROWS_AS(m.register_module("c", std::shared_ptr<nn::Linear>()), ValueError);
  // A module not owned by a shared_ptr cannot hand out shared_ptrs to itself.
  CHECK_THROWS_AS(m.modules(), ValueError);
  // The default forward explains itself.
  CHECK_THROWS_WITH(m.forward(zeros({2})), ContainsSubstring("Custom") && ContainsSubstring("forward"));
  nn::MSELoss loss;
  CHECK_THROWS_AS(loss.forward(zeros({2})), ValueError);
}

TEST_CASE("nn::ModuleList holds modules for a custom forward", "[nn_module]") {
  auto list = std::make_shared<nn::ModuleList>(
      std::initializer_list<nn::ModulePtr>{std::make_shared<nn::Linear>(3, 3), std::make_shared<nn::Linear>(3, 3)});
  list->push_back(std::make_shared<nn::LayerNorm>(3));
  CHECK(list->size() == 3);
  CHECK(keys(list->named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias",
                                                                     "2.weight", "2.bias"});
  Tensor x = make_input({2, 3}, DType::Float32, 1);
  Tensor y = x;
  for (const auto& m : *list) y = (*m)(y);
  CHECK(y.shape() == Shape{2, 3});
  CHECK_THROWS_AS((*list)(x), ValueError);  // a ModuleList has no forward of its own
  CHECK(list->at<nn::LayerNorm>(-1)->normalized_shape == std::vector<int64_t>{3});
}

TEST_CASE("nn: train/eval propagate through the whole tree", "[nn_module]") {
  auto outer = std::make_shared<nn::Sequential>();
  auto seq = small_convnet();
  outer->push_back(seq).push_back(std::make_shared<nn::Dropout>(0.5));
  for (const auto& m : outer->modules()) CHECK(m->is_training());
  outer->eval();
  for (const auto& m : outer->modules()) CHECK(!m->is_training());
  seq->train();
  CHECK(!outer->is_training());
  CHECK((*seq)[6]->is_training());
  outer->train(true);
  for (const auto& m : outer->modules()) CHECK(m->is_training());
}

TEST_CASE("nn: to(float64) converts in place and keeps every handle", "[nn_module]") {
  auto seq = small_convnet();
  Tensor x = make_input({2, 1, 6, 6}, DType::Float32, 1);
  seq->eval();
  const Tensor y32 = (*seq)(x);
  std::vector<Tensor> handles = seq->parameters();
  const std::vector<float> w_before = handles[0].to_vector<float>();
  // A gradient is converted with its parameter.
  sum((*seq)(x)).backward();
  const Tensor grad_handle = handles[0].grad();
  REQUIRE(grad_handle.dtype() == DType::Float32);

  seq->to(DType::Float64);
  const auto after = seq->parameters();
  REQUIRE(after.size() == handles.size());
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].is_same(handles[i]));
    CHECK(handles[i].dtype() == DType::Float64);
    CHECK(handles[i].requires_grad());
    CHECK(handles[i].is_leaf());
  }
  CHECK(seq->at<nn::Conv2d>(0)->weight.is_same(handles[0]));
  const std::vector<double> w_after = handles[0].to_vector<double>();
  for (size_t i = 0; i < w_before.size(); ++i) CHECK(w_after[i] == double(w_before[i]));
  CHECK(grad_handle.dtype() == DType::Float64);
  CHECK(handles[0].grad().is_same(grad_handle));
  auto bn = seq->at<nn::BatchNorm2d>(1);
  CHECK(bn->running_mean.dtype() == DType::Float64);
  CHECK(bn->num_batches_tracked.dtype() == DType::Int64);  // integer buffers keep their dtype

  const Tensor y64 = (*seq)(x.to(DType::Float64));
  CHECK(y64.dtype() == DType::Float64);
  DOPPEL_REQUIRE_CLOSE(y64.to(DType::Float32), y32, (Tolerance{1e-4, 1e-5}));
  seq->zero_grad();
  sum(y64).backward();
  for (const Tensor& p : handles) CHECK(p.grad().dtype() == DType::Float64);

  CHECK_THROWS_AS(seq->to(DType::Int32), DTypeError);
  seq->to(kCPU);  // already there: a no-op
  CHECK(handles[0].device() == kCPU);
  CHECK_THROWS_AS(seq->to(Device("cuda:0")), DeviceError);
}

TEST_CASE("nn: state_dict round trip reproduces the model", "[nn_module]") {
  manual_seed(1);
  auto a = small_convnet();
  manual_seed(2);
  auto b = small_convnet();
  Tensor x = make_input({3, 1, 6, 6}, DType::Float32, 3);
  a->train();
  (*a)(x);  // moves a's running statistics and num_batches_tracked
  a->eval();
  b->eval();
  CHECK(compare((*b)(x), (*a)(x), {1e-6, 1e-6}).has_value());  // different seeds: different models

  const StateDict sd = a->state_dict();
  CHECK(state_find(sd, "1.num_batches_tracked").item<int64_t>() == 1);
  b->load_state_dict(sd);
  DOPPEL_REQUIRE_CLOSE((*b)(x), (*a)(x), (Tolerance{0, 0}));
  CHECK(b->at<nn::BatchNorm2d>(1)->num_batches_tracked.item<int64_t>() == 1);
  // Values were copied, not aliased: b keeps its own tensors.
  CHECK(!state_find(b->state_dict(), "0.weight").is_same(state_find(sd, "0.weight")));
  for (const Tensor& p : b->parameters()) {
    CHECK(p.is_leaf());
    CHECK(p.requires_grad());
  }
  {
    NoGradGuard ng;
    copy_(a->at<nn::Conv2d>(0)->weight, zeros_like(a->at<nn::Conv2d>(0)->weight));
  }
  CHECK(b->at<nn::Conv2d>(0)->weight.abs().sum().item<float>() > 0.0f);
}

TEST_CASE("nn: load_state_dict reports missing, unexpected and mismatched keys", "[nn_module]") {
  auto m = std::make_shared<TwoLayer>();
  const std::vector<float> fc1_before = m->fc1->weight.to_vector<float>();
  StateDict sd = std::make_shared<TwoLayer>()->state_dict();

  StateDict missing(sd.begin() + 1, sd.end());  // no "scale"
  CHECK_THROWS_AS(m->load_state_dict(missing), ValueError);
  CHECK_THROWS_WITH(m->load_state_dict(missing), ContainsSubstring("Missing keys: scale"));
  CHECK(m->fc1->weight.to_vector<float>() == fc1_before);  // nothing copied on error

  StateDict extra = sd;
  extra.emplace_back("fc3.weight", zeros({1}));
  extra.emplace_back("bogus", zeros({1}));
  CHECK_THROWS_WITH(m->load_state_dict(extra), ContainsSubstring("Unexpected keys: fc3.weight, bogus"));
  CHECK(m->fc1->weight.to_vector<float>() == fc1_before);

  // Non-strict loads what matches and ignores the rest.
  m->load_state_dict(missing, /*strict=*/false);
  CHECK(m->fc1->weight.to_vector<float>() == state_find(sd, "fc1.weight").to_vector<float>());
  m->load_state_dict(extra, /*strict=*/false);

  // Shape and dtype mismatches fail in both modes and name the key.
  StateDict bad_shape = sd;
  bad_shape[1].second = zeros({4, 3});
  CHECK_THROWS_AS(m->load_state_dict(bad_shape), ShapeError);
  CHECK_THROWS_AS(m->load_state_dict(bad_shape, false), ShapeError);
  CHECK_THROWS_WITH(m->load_state_dict(bad_shape, false),
                    ContainsSubstring("fc1.weight") && ContainsSubstring("[4, 3]") && ContainsSubstring("[3, 4]"));
  StateDict bad_dtype = sd;
  bad_dtype[0].second = ones({1}, {.dtype = DType::Float64});
  CHECK_THROWS_AS(m->load_state_dict(bad_dtype, false), DTypeError);
  CHECK_THROWS_WITH(m->load_state_dict(bad_dtype), ContainsSubstring("scale") && ContainsSubstring("float64"));
}

TEST_CASE("nn: backward through a Sequential reaches every parameter", "[nn_module]") {
  manual_seed(5);
  auto seq = small_convnet();
  Tensor x = make_input({4, 1, 6, 6}, DType::Float32, 5);
  Tensor target = tensor(std::vector<int64_t>{0, 2, 1, 2});
  nn::CrossEntropyLoss criterion;
  Tensor loss = criterion((*seq)(x), target);
  loss.backward();
  for (const auto& [name, p] : seq->named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    CHECK(p.grad().shape() == p.shape());
    for (float g : p.grad().to_vector<float>()) CHECK(std::isfinite(g));
    CHECK(p.grad().abs().sum().item<float>() > 0.0f);
  }
  // Running statistics are state, never part of the graph.
  auto bn = seq->at<nn::BatchNorm2d>(1);
  CHECK(!bn->running_mean.requires_grad());
  CHECK(bn->num_batches_tracked.item<int64_t>() == 1);
  seq->zero_grad();
  for (const Tensor& p : seq->parameters()) CHECK(!p.grad().defined());
}

}  // namespace doppel::testing
