// Post-accumulate gradient hooks and backward callbacks (doppel/autograd_hooks.h): what
// DistributedDataParallel builds its communication overlap on.
#include <string>
#include <vector>

#include "doppel/autograd_hooks.h"
#include "support/test_util.h"

namespace doppel::testing {

TEST_CASE("autograd hooks: post-accumulate hooks see the accumulated .grad() once per backward", "[autograd][hooks]") {
  Tensor w = tensor(std::vector<float>{1, 2}).set_requires_grad(true);
  std::vector<std::vector<float>> seen;
  const int64_t h = autograd::register_post_accumulate_grad_hook(
      w, [&](const Tensor& leaf) { seen.push_back(leaf.grad().to_vector<float>()); });
  sum(w * 3.0 + w).backward();  // two uses: one accumulation
  sum(w * 2.0).backward();
  CHECK(seen == std::vector<std::vector<float>>{{4, 4}, {6, 6}});
  autograd::remove_post_accumulate_grad_hook(w, h);
  sum(w).backward();
  CHECK(seen.size() == 2);
  CHECK_THROWS_AS(autograd::register_post_accumulate_grad_hook(w * 2.0, [](const Tensor&) {}), ValueError);
}

TEST_CASE("autograd hooks: a leaf's gradient is accumulated as soon as it is ready, before earlier layers' backward",
          "[autograd][hooks]") {
  // y = exp(x * w1) * w2: w2's gradient is ready after the last op's backward; the hook on the
  // intermediate fires when exp's backward (which needs w2's op first) has run.
  Tensor x = tensor(std::vector<float>{0.5f, 1.f});
  Tensor w1 = tensor(std::vector<float>{1, 1}).set_requires_grad(true);
  Tensor w2 = tensor(std::vector<float>{2, 3}).set_requires_grad(true);
  std::vector<std::string> order;
  Tensor h = x * w1;
  h.register_hook([&](const Tensor&) {
    order.push_back("h");
    return Tensor();
  });
  autograd::register_post_accumulate_grad_hook(w2, [&](const Tensor&) { order.push_back("w2"); });
  autograd::register_post_accumulate_grad_hook(w1, [&](const Tensor&) { order.push_back("w1"); });
  sum(exp(h) * w2).backward();
  CHECK(order == std::vector<std::string>{"w2", "h", "w1"});
}

TEST_CASE("autograd hooks: backward callbacks run once the graph is processed, in order, before backward returns",
          "[autograd][hooks]") {
  Tensor a = ones({2}).set_requires_grad(true);
  std::vector<std::string> log;
  autograd::register_post_accumulate_grad_hook(a, [&](const Tensor& leaf) {
    log.push_back("hook");
    autograd::queue_backward_callback([&, leaf] {
      log.push_back("first:" + std::to_string(leaf.grad().to_vector<float>()[0]).substr(0, 3));
      autograd::queue_backward_callback([&] { log.push_back("queued by a callback"); });
    });
    autograd::queue_backward_callback([&] { log.push_back("second"); });
  });
  sum(a * 2.0).backward();
  CHECK(log == std::vector<std::string>{"hook", "first:2.0", "second", "queued by a callback"});
  CHECK_THROWS_AS(autograd::queue_backward_callback([] {}), ValueError);
}

}  // namespace doppel::testing
