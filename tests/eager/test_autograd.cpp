// The autograd engine: accumulation, broadcasting, higher order, hooks, modes and errors.
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {

TEST_CASE("autograd: product and sum rules accumulate into leaves", "[autograd]") {
  Tensor a = tensor(std::vector<float>{1, 2, 3}).set_requires_grad(true);
  Tensor b = tensor(std::vector<float>{4, 5, 6}).set_requires_grad(true);
  Tensor y = sum(a * b + a);
  CHECK(grad_fn_name(y) == "sum_backward");
  y.backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{5, 6, 7});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{1, 2, 3});
  // A second backward through a fresh graph accumulates.
  sum(a * 2.0).backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{7, 8, 9});
}

TEST_CASE("autograd: broadcast gradients are summed back to the input shape", "[autograd]") {
  Tensor a = ones({3, 1}).set_requires_grad(true);
  Tensor b = ones({4}).set_requires_grad(true);
  sum(a * b).backward();
  CHECK(a.grad().shape() == Shape{3, 1});
  CHECK(a.grad().to_vector<float>() == std::vector<float>{4, 4, 4});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{3, 3, 3, 3});
}

TEST_CASE("autograd: matmul, views and mean match finite differences", "[autograd]") {
  auto f = [](const std::vector<Tensor>& in) {
    Tensor m = matmul(in[0], in[1]);
    return std::vector<Tensor>{mean(slice(transpose(m, 0, 1), 0, 1, std::nullopt, 2), {1})};
  };
  std::vector<Tensor> in = {grad_input(make_input({3, 4}, DType::Float64, 1)),
                            grad_input(make_input({4, 5}, DType::Float64, 2))};
  auto r = gradcheck(f, in);
  INFO(r.value_or(""));
  CHECK(!r);
  auto rr = gradgradcheck(f, in);
  INFO(rr.value_or(""));
  CHECK(!rr);
}

TEST_CASE("autograd: matmul with 1-d and batched broadcast operands", "[autograd]") {
  for (auto [sa, sb] : std::vector<std::pair<Shape, Shape>>{{{4}, {4}}, {{4}, {2, 4, 3}}, {{2, 3, 4}, {4}},
                                                            {{2, 1, 3, 4}, {5, 4, 2}}}) {
    std::vector<Tensor> in = {grad_input(make_input(sa, DType::Float64, 3)), grad_input(make_input(sb, DType::Float64, 4))};
    auto r = gradcheck([](const std::vector<Tensor>& x) { return std::vector<Tensor>{matmul(x[0], x[1])}; }, in);
    INFO(shape_str(sa) << " @ " << shape_str(sb) << ": " << r.value_or(""));
    CHECK(!r);
  }
}

TEST_CASE("autograd: higher-order gradients through create_graph", "[autograd]") {
  Tensor x = tensor(std::vector<double>{2.0}).set_requires_grad(true);
  Tensor y = x * x * x;  // y = x^3
  std::vector<Tensor> g1 = grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true);
  CHECK(g1[0].item<double>() == 12.0);  // 3x^2
  std::vector<Tensor> g2 = grad({g1[0]}, {x}, {}, std::nullopt, true);
  CHECK(g2[0].item<double>() == 12.0);  // 6x
  std::vector<Tensor> g3 = grad({g2[0]}, {x});
  CHECK(g3[0].item<double>() == 6.0);
}

TEST_CASE("autograd: grad() leaves .grad untouched and reports unused inputs", "[autograd]") {
  Tensor a = ones({2}).set_requires_grad(true);
  Tensor b = ones({2}).set_requires_grad(true);
  Tensor y = sum(a * 3.0);
  std::vector<Tensor> g = grad({y}, {a, b}, {}, true, false, /*allow_unused=*/true);
  CHECK(g[0].to_vector<float>() == std::vector<float>{3, 3});
  CHECK_FALSE(g[1].defined());
  CHECK_FALSE(a.grad().defined());
  CHECK_THROWS_AS(grad({y}, {b}), ValueError);
}

TEST_CASE("autograd: no_grad, detach and requires_grad rules", "[autograd]") {
  Tensor a = ones({2}).set_requires_grad(true);
  {
    NoGradGuard ng;
    CHECK_FALSE((a * 2.0).requires_grad());
  }
  CHECK((a * 2.0).requires_grad());
  CHECK_FALSE(a.detach().requires_grad());
  CHECK(a.detach().raw_data() == a.raw_data());
  CHECK_THROWS_AS(arange(0, 3).set_requires_grad(true), DTypeError);
  CHECK_THROWS_AS(sum(a * 2.0).set_requires_grad(false), ValueError);
  Tensor nograd = ones({2});
  CHECK_THROWS_AS(sum(nograd).backward(), ValueError);
  CHECK_THROWS_AS((a * 2.0).backward(), ValueError);  // non-scalar without a gradient
}

TEST_CASE("autograd: a saved tensor modified in place is detected", "[autograd]") {
  Tensor a = ones({3}).set_requires_grad(true);
  Tensor b = a * 2.0;
  Tensor c = b * b;  // saves b
  add_(b, 1.0);
  try {
    sum(c).backward();
    FAIL("expected an error");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("modified by an in-place operation") != std::string::npos);
  }
  // A leaf that requires grad cannot be changed in place outside NoGradGuard.
  CHECK_THROWS_AS(add_(a, 1.0), ValueError);
  {
    NoGradGuard ng;
    add_(a, 1.0);
  }
  CHECK(a.to_vector<float>() == std::vector<float>{2, 2, 2});
}

TEST_CASE("autograd: in-place ops on non-leaves continue the history", "[autograd]") {
  Tensor a = tensor(std::vector<float>{1, 2}).set_requires_grad(true);
  Tensor b = a * 3.0;
  mul_(b, 2.0);
  add_(b, a);
  sum(b).backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{7, 7});
}

TEST_CASE("autograd: second backward without retain_graph is an error", "[autograd]") {
  Tensor a = ones({2}).set_requires_grad(true);
  Tensor y = sum(a * a);
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{4, 4});
  CHECK_THROWS_AS(y.backward(), ValueError);
}

TEST_CASE("autograd: hooks and retain_grad", "[autograd]") {
  Tensor a = ones({2}).set_requires_grad(true);
  Tensor b = a * 2.0;
  b.retain_grad();
  int calls = 0;
  b.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 10.0;
  });
  const int64_t h = a.register_hook([&](const Tensor& g) {
    ++calls;
    return Tensor();
  });
  sum(b).backward();
  CHECK(calls == 2);
  CHECK(a.grad().to_vector<float>() == std::vector<float>{20, 20});
  a.remove_hook(h);
  CHECK(b.grad().defined());
}

TEST_CASE("autograd: anomaly mode names the op that produced NaN", "[autograd]") {
  Tensor a = tensor(std::vector<float>{0.f, 1.f}).set_requires_grad(true);
  AnomalyModeGuard guard;
  try {
    Tensor y = div(a, a);  // 0/0
    FAIL("expected an anomaly error");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("div") != std::string::npos);
    CHECK(std::string(e.what()).find("test_autograd.cpp") != std::string::npos);
  }
}

}  // namespace doppel::testing
