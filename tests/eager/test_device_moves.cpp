// Moving tensors and modules between devices as seen from a machine without a GPU: moves to the
// CPU are no-ops, moves to a missing CUDA device and pinned memory are DeviceErrors that say why,
// mixed-device op calls name every input's device, and the DataLoader's pin_memory option.
// (The moves themselves are tested on a device in tests/gpu/test_cuda_runtime.cpp.)
#include <catch2/matchers/catch_matchers_string.hpp>

#include "doppel/data/dataloader.h"
#include "doppel/nn/nn.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;

constexpr Device kCuda0{DeviceType::CUDA, 0};

bool no_gpu() { return cuda_device_count() == 0; }

class Ones final : public data::Dataset {
 public:
  size_t size() const override { return 4; }
  data::Example get(size_t) const override { return {ones({2}), {}}; }
};

}  // namespace

TEST_CASE("to(cpu) on a CPU tensor is the tensor itself; to(cpu, dtype) only casts", "[device_moves]") {
  const Tensor t = make_input({2, 3}, DType::Float32, 1);
  CHECK(t.to(kCPU).is_same(t));
  const Tensor d = t.to(kCPU, DType::Float64);
  CHECK(d.dtype() == DType::Float64);
  CHECK(d.device() == kCPU);
  DOPPEL_REQUIRE_CLOSE(d, t.to(DType::Float64), Tolerance{});
  CHECK_FALSE(t.is_pinned());
  synchronize(kCPU);  // nothing to wait for
}

TEST_CASE("a move to a CUDA device that does not exist is a DeviceError saying so", "[device_moves]") {
  if (!no_gpu()) SKIP("this machine has a CUDA device; the message for a missing one cannot be produced");
  const Tensor t = make_input({4}, DType::Float32, 2);
  const std::string msg = error_message<DeviceError>([&] { (void)t.to(kCuda0); });
  CHECK_THAT(msg, ContainsSubstring("cuda:0"));
  CHECK_THAT(msg, ContainsSubstring(cuda_compiled() ? "no CUDA device is available" : "built without CUDA"));
  CHECK_THAT(error_message<DeviceError>([&] { (void)empty({2}, {.device = Device("cuda:3")}); }),
             ContainsSubstring("cuda:3"));
  CHECK_THROWS_AS(synchronize(kCuda0), DeviceError);
  CHECK(t.device() == kCPU);
}

TEST_CASE("moving a tensor that requires grad between devices is refused, not silently detached", "[device_moves]") {
  const Tensor w = make_input({3}, DType::Float32, 3).set_requires_grad();
  const std::string msg = error_message<ValueError>([&] { (void)w.to(kCuda0); });
  CHECK_THAT(msg, ContainsSubstring("requires grad"));
  CHECK_THAT(msg, ContainsSubstring("detach()"));
  // Without grad mode the move is a plain copy (here: refused for the missing device instead).
  if (no_gpu()) {
    NoGradGuard ng;
    CHECK_THROWS_AS(w.to(kCuda0), DeviceError);
  }
}

TEST_CASE("pin_memory without a CUDA device is a DeviceError; the DataLoader checks its option", "[device_moves]") {
  CHECK_FALSE(data::DataLoaderOptions{}.pin_memory);
  auto ds = std::make_shared<Ones>();
  data::DataLoader plain(ds, {.batch_size = 2});
  for (const data::Batch& b : plain) CHECK_FALSE(b.data.is_pinned());
  if (!no_gpu()) SKIP("this machine has a CUDA device: pinned batches are tested in tests/gpu");
  const Tensor t = ones({3});
  CHECK_THAT(error_message<DeviceError>([&] { (void)t.pin_memory(); }), ContainsSubstring("pin"));
  const std::string msg =
      error_message<DeviceError>([&] { data::DataLoader pinned(ds, {.batch_size = 2, .pin_memory = true}); });
  CHECK_THAT(msg, ContainsSubstring("pin_memory needs a CUDA device"));
  CHECK_THAT(msg, ContainsSubstring("leave pin_memory off"));
}

TEST_CASE("Module::to(cpu) keeps every parameter, its memory and the optimizer's handles", "[device_moves]") {
  manual_seed(5);
  nn::Sequential m;
  m.push_back(std::make_shared<nn::Linear>(3, 4));
  m.push_back(std::make_shared<nn::BatchNorm1d>(4));
  std::vector<const void*> before;
  const std::vector<Tensor> params = m.parameters();
  for (const Tensor& p : params) before.push_back(p.raw_data());
  m.to(kCPU);
  const std::vector<Tensor> after = m.parameters();
  REQUIRE(after.size() == params.size());
  for (size_t k = 0; k < params.size(); ++k) {
    CHECK(after[k].is_same(params[k]));
    CHECK(after[k].raw_data() == before[k]);
  }
  if (!no_gpu()) return;
  // A failed move (no device) leaves the module as it was.
  CHECK_THROWS_AS(m.to(kCuda0), DeviceError);
  for (size_t k = 0; k < params.size(); ++k) {
    CHECK(params[k].device() == kCPU);
    CHECK(params[k].raw_data() == before[k]);
  }
}

TEST_CASE("an op on tensors of different devices names the op and every input's device", "[device_moves]") {
  // A tensor that claims to be on cuda:0 (memory is never touched: the check runs first).
  float fake[4] = {};
  const Tensor on_gpu = from_blob(fake, {4}, {1}, DType::Float32, kCuda0);
  const Tensor on_cpu = ones({4});
  const std::string msg = error_message<DeviceError>([&] { (void)add(on_cpu, on_gpu); });
  CHECK_THAT(msg, ContainsSubstring("add"));
  CHECK_THAT(msg, ContainsSubstring("input 0 on cpu"));
  CHECK_THAT(msg, ContainsSubstring("input 1 on cuda:0"));
  CHECK_THAT(msg, ContainsSubstring(".to(device)"));
  const std::string three = error_message<DeviceError>([&] { (void)where(gt(on_cpu, 0.0), on_cpu, on_gpu); });
  CHECK_THAT(three, ContainsSubstring("where"));
  CHECK_THAT(three, ContainsSubstring("input 2 on cuda:0"));
}

}  // namespace doppel::testing
