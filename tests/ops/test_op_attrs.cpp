// The typed attribute structs (attr_struct.h): every op's OpDef declares exactly its struct's
// spec, and packing a struct then reading it back gives the same fields with the declared kinds.
#include <fmt/format.h>
#include <catch2/catch_test_macros.hpp>

#include <limits>
#include <vector>

#include "doppel/kernels/op_attrs/table.h"
#include "doppel/kernels/op_def.h"

namespace doppel {
namespace {

// The attribute kinds a packed struct carries match its spec (none only where optional), and
// `of` gives the struct back.
template <class T>
void check_packs(const T& value) {
  const Attrs a = value.pack();
  REQUIRE(a.size() == std::size(T::kSpec));
  for (size_t k = 0; k < a.size(); ++k) {
    INFO(T::kSpec[k].name);
    CHECK((a[k].kind == T::kSpec[k].kind || (T::kSpec[k].optional && a[k].is_none())));
  }
  CHECK(T::of(a) == value);
}

}  // namespace

TEST_CASE("op table: every op's attributes are the kSpec of the struct op_attrs/table.h names", "[op_table]") {
  std::vector<std::string> wrong;
  for (int k = 0; k < kNumOps; ++k) {
    const OpDef* def = find_op_def(OpId(k));
    if (!def) continue;  // the completeness test reports it
    const std::span<const AttrSpec> declared = declared_attr_spec(OpId(k));
    if (def->attrs.data() != declared.data() || def->attrs.size() != declared.size())
      wrong.push_back(fmt::format("{}: its OpDef's {} attributes are not its struct's kSpec ({} attributes)", def->name,
                                  def->attrs.size(), declared.size()));
  }
  INFO(fmt::format("{}", fmt::join(wrong, "\n")));
  REQUIRE(wrong.empty());
}

TEST_CASE("op attrs: a default struct of every op packs to its spec's kinds", "[op_table]"){
#define DOPPEL_CHECK_DEFAULT_(op, T) \
  SECTION(#op) { check_packs(T{}); }
    DOPPEL_OP_ATTR_STRUCTS(DOPPEL_CHECK_DEFAULT_)
#undef DOPPEL_CHECK_DEFAULT_
}

TEST_CASE("op attrs: fields round-trip through pack and of", "[op_table]") {
  check_packs(SoftplusAttrs{.beta = 2.5, .threshold = -7});
  check_packs(ClampAttrs{.min = std::nullopt, .max = 3});
  check_packs(ClampAttrs{.min = -std::numeric_limits<double>::infinity(), .max = std::nullopt});
  check_packs(ArgReduceAttrs{.dim = std::nullopt, .keepdim = true});
  check_packs(ArgReduceAttrs{.dim = -2, .keepdim = false});
  check_packs(ScanAttrs{.dim = 1, .dtype = DType::Float64});
  check_packs(ScanAttrs{.dim = 0, .dtype = std::nullopt});
  check_packs(
      FullAttrs{.shape = {2, 0, 3}, .value = -0.0, .dtype = DType::Int8, .device = Device(DeviceType::CUDA, 3)});
  check_packs(VarAttrs{.dims = {-1, 0}, .keepdim = true, .correction = 0});
  check_packs(EmbeddingBackwardAttrs{.num_weights = 10, .padding_idx = 0});
  // The positions follow the declaration: beta first, threshold second.
  const Attrs a = SoftplusAttrs{.beta = 2.5, .threshold = -7}.pack();
  CHECK(a[0].f == 2.5);
  CHECK(a[1].f == -7);
}

TEST_CASE("op attrs: reading another struct's attributes is an internal error", "[op_table]") {
  CHECK_THROWS_AS(SoftplusAttrs::of(GeluAttrs{.tanh = true}.pack()), InternalError);
  CHECK_THROWS_AS(SoftplusAttrs::of(Attrs{}), InternalError);
  CHECK_THROWS_AS(ReduceAttrs::of(VarAttrs{}.pack()), InternalError);
  // A none is accepted only where the spec says optional.
  CHECK_THROWS_AS(DimAttrs::of(Attrs{Attr::none()}), InternalError);
  CHECK(ArgReduceAttrs::of(Attrs{Attr::none(), Attr::of_bool(true)}).keepdim);
}

}  // namespace doppel
