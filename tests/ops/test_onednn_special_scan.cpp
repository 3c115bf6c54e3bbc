// The oneDNN kernels whose primitive gives another answer on NaN or infinities (a fused
// activation, max pooling, softmax) scan their inputs for those values on every call
// (onednn::holds) and compute such input with the reference loop. The float32 scan is a
// vectorized test of the bits (in one copy per vector ISA, each checked): a special value at any position (first,
// vector tails, the parallel chunk boundary at 65536, last), of either sign and any NaN payload, must be found, so each
// result equals the reference kernel's; finite extremes (FLT_MAX, denormals, -0) change nothing either way.
#include <bit>
#include <cstdint>
#include <functional>
#include <limits>

#include "cpu/vector_isa.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/parallel.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;

struct ScanCase {
  const char* what;
  Tensor input;                              // the tensor that gets the special value
  std::function<Tensor(const Tensor&)> run;  // the op on (a copy of) it
};

std::vector<ScanCase> cases() {
  const Tensor x = make_input({2, 300}, DType::Float32, 1), b = make_input({256}, DType::Float32, 2);
  const Attrs relu = FusedLinearAttrs{.activation = int64_t(FusedActivation::relu), .alpha = 0, .beta = 0}.pack();
  return {
      {"fused_linear relu, special in the weight [256, 300]", make_input({256, 300}, DType::Float32, 3),
       [=](const Tensor& w) {
         return dispatch1(OpId::fused_linear, {x, w, b}, relu);
       }},
      // 3x3 windows: the 2x2 case is the reference kernel's (max_pool_2x2.h), with no scan.
      {"max_pool2d 3x3, special in the input [4, 8, 45, 47]", make_input({4, 8, 45, 47}, DType::Float32, 4),
       [](const Tensor& t) {
         return max_pool2d(t, {3, 3}, {2, 2});
       }},
      {"softmax, special in the input [70, 1000]", make_input({70, 1000}, DType::Float32, 5),
       [](const Tensor& t) { return softmax(t, 1); }},
  };
}

TEST_CASE("oneDNN special-value scans: NaN and infinities found at any position, results equal the reference",
          "[onednn_semantics]") {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const std::vector<float> values = {std::numeric_limits<float>::quiet_NaN(),
                                     std::bit_cast<float>(0xffc00000u),  // NaN with the sign bit
                                     std::bit_cast<float>(0x7f800001u),  // signaling NaN payload
                                     kInf,
                                     -kInf,
                                     std::numeric_limits<float>::max(),
                                     -std::numeric_limits<float>::max(),
                                     std::numeric_limits<float>::denorm_min(),
                                     -0.0f};
  const int saved = get_num_threads();
  // Every vector-ISA copy of the scan on one thread; the widest on two.
  const std::pair<vector_isa::Isa, int> runs[] = {{vector_isa::Isa::Portable, 1},
                                                  {vector_isa::Isa::Avx2, 1},
                                                  {vector_isa::Isa::Avx512, 1},
                                                  {vector_isa::Isa::Avx512, 2}};
  for (const auto& [isa, threads] : runs) {
    if (!vector_isa::supported(isa)) continue;
    vector_isa::ForcedIsa forced(isa);
    set_num_threads(threads);
    for (const ScanCase& c : cases()) {
      const int64_t n = c.input.numel();
      for (int64_t pos :
           {int64_t(0), int64_t(1), int64_t(5), int64_t(17), n / 2, int64_t(65535), int64_t(65536), n - 1}) {
        if (pos >= n) continue;
        for (float v : values) {
          INFO(c.what << ", ISA " << int(isa) << ", threads " << threads << ", value bits "
                      << std::bit_cast<uint32_t>(v) << " at " << pos);
          Tensor t = c.input.clone();
          static_cast<float*>(t.raw_data())[pos] = v;
          const Tensor got = c.run(t);
          CHECK(last_selected_backend() == Backend::OneDNN);
          ForceBackendGuard reference(Backend::Reference);
          DOPPEL_REQUIRE_CLOSE(got, c.run(t), testing::default_tolerance(DType::Float32));
        }
      }
    }
  }
  set_num_threads(saved);
}

}  // namespace
}  // namespace doppel
