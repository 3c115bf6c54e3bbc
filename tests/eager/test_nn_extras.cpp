// Issue 12's nn additions: class weights of cross_entropy / nll_loss, huber_loss, kl_div,
// binary_cross_entropy (weight=), bce_with_logits weight=, instance_norm, normalize, pad and
// Adagrad. Values against PyTorch 1.13 (numbers pasted from the script quoted with each test,
// run with Debian's python3-torch) and gradients against float64 finite differences.
#include <catch2/catch_approx.hpp>
#include <cmath>

#include "doppel/optim/optim.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

void check_values(const Tensor& got, const std::vector<double>& want, double tol = 1e-12) {
  const std::vector<double> g = to_dtype(got, DType::Float64).to_vector<double>();
  REQUIRE(g.size() == want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << ": got " << g[i] << " want " << want[i]);
    CHECK(std::abs(g[i] - want[i]) <= tol * (1 + std::abs(want[i])));
  }
}

Tensor t64(const std::vector<double>& v, IntList shape = {}) {
  return shape.empty() ? tensor(v) : reshape(tensor(v), shape);
}
Tensor idx(const std::vector<int64_t>& v) { return tensor(v); }

void require_gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs) {
  const auto r = gradcheck(f, inputs);
  INFO(r.value_or(""));
  CHECK(!r);
}

// x, class weights and targets of the class-weight tests (the script below uses the same):
//   x = [[0.5,-1,2,0.1],[1.5,0.3,-0.7,0],[-2,1,0.4,0.9]]; w = [0.5,2,1,3]; t = [2,0,3]; t_ign = [2,-100,3]
const std::vector<double> kX = {0.5, -1.0, 2.0, 0.1, 1.5, 0.3, -0.7, 0.0, -2.0, 1.0, 0.4, 0.9};
const std::vector<double> kW = {0.5, 2.0, 1.0, 3.0};

}  // namespace

// for red in ['none','mean','sum']:
//   F.cross_entropy(x,t,weight=w,reduction=red)
//   F.cross_entropy(x,t_ign,weight=w,reduction=red,label_smoothing=0.2)
//   F.nll_loss(F.log_softmax(x,1),t_ign,weight=w,reduction=red)
TEST_CASE("cross_entropy and nll_loss with class weights match PyTorch", "[loss_weights]") {
  const Tensor x = t64(kX, {3, 4}), w = tensor(kW);
  const Tensor t = idx({2, 0, 3}), t_ign = idx({2, -100, 3});
  check_values(cross_entropy(x, t, Reduction::None, -100, 0.0, w),
               {0.35240593810343074, 0.24586040078302476, 3.0529927115486197});
  check_values(cross_entropy(x, t, Reduction::Mean, -100, 0.0, w), {0.8113909000966834});
  check_values(cross_entropy(x, t, Reduction::Sum, -100, 0.0, w), {3.6512590504350753});
  check_values(cross_entropy(x, t_ign, Reduction::None, -100, 0.2, w), {1.0189566803663597, 0.0, 2.86063504632333});
  check_values(cross_entropy(x, t_ign, Reduction::Mean, -100, 0.2, w), {0.9698979316724223});
  check_values(cross_entropy(x, t_ign, Reduction::Sum, -100, 0.2, w), {3.8795917266896893});
  const Tensor lp = log_softmax(x, 1);
  check_values(nll_loss(lp, t_ign, Reduction::None, -100, w), {0.35240593810343074, 0.0, 3.0529927115486197});
  check_values(nll_loss(lp, t_ign, Reduction::Mean, -100, w), {0.8513496624130126});
  check_values(nll_loss(lp, t_ign, Reduction::Sum, -100, w), {3.4053986496520503});
  // p = softmax([[0.1,0.2,0.3,0.4],[1,0,0,-1],[2,1,0,1]]); F.cross_entropy(x,p,weight=w,label_smoothing=0.1)
  const Tensor p = softmax(t64({0.1, 0.2, 0.3, 0.4, 1, 0, 0, -1, 2, 1, 0, 1}, {3, 4}), 1);
  check_values(cross_entropy(x, p, Reduction::Mean, -100, 0.1, w), {2.6052861289710836});
  // Float32 goes through the same kernel: the unweighted path must equal weights of ones.
  const Tensor x32 = to_dtype(x, DType::Float32);
  CHECK(!compare(cross_entropy(x32, t, Reduction::Mean, -100, 0.3, ones({4})),
                 cross_entropy(x32, t, Reduction::Mean, -100, 0.3), {1e-6, 1e-7}));
}

// xx.requires_grad_(); F.cross_entropy(xx,t_ign,weight=w,label_smoothing=0.2).backward(); xx.grad
TEST_CASE("cross_entropy class-weight gradient matches PyTorch and finite differences", "[loss_weights]") {
  const Tensor x = t64(kX, {3, 4}).detach().set_requires_grad(true), w = tensor(kW);
  const Tensor t_ign = idx({2, -100, 3});
  const Tensor g = grad({cross_entropy(x, t_ign, Reduction::Mean, -100, 0.2, w)}, {x})[0];
  check_values(g, {0.03786668322851637, -0.015156237406003595, -0.014782742955191601, -0.007927702867321189, 0, 0, 0, 0,
                   0.007298354607812221, 0.24712597672365216, 0.13684590250939252, -0.39127023384085696});
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    for (double eps : {0.0, 0.3}) {
      INFO("reduction " << int(r) << " eps " << eps);
      auto ce = [&](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{cross_entropy(in[0], t_ign, r, -100, eps, w)};
      };
      require_gradcheck(ce, {grad_input(x)});
      CHECK(!gradgradcheck(ce, {grad_input(x)}));
      auto nll = [&](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{nll_loss(log_softmax(in[0], 1), t_ign, r, -100, w)};
      };
      require_gradcheck(nll, {grad_input(x)});
      CHECK(!gradgradcheck(nll, {grad_input(x)}));
      // Probability targets: the gradient reaches the target too.
      const Tensor p = softmax(t64({0.1, 0.2, 0.3, 0.4, 1, 0, 0, -1, 2, 1, 0, 1}, {3, 4}), 1);
      auto cep = [&](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{cross_entropy(in[0], in[1], r, -100, eps, w)};
      };
      require_gradcheck(cep, {grad_input(x), grad_input(p)});
      CHECK(!gradgradcheck(cep, {grad_input(x), grad_input(p)}));
    }
  }
}

TEST_CASE("class weights: mean over zero total weight is NaN; bad weights raise", "[loss_weights]") {
  const Tensor x = t64(kX, {3, 4});
  CHECK(std::isnan(cross_entropy(x, idx({0, 0, 0}), Reduction::Mean, -100, 0.0, t64({0, 1, 1, 1})).item<double>()));
  CHECK_THROWS_AS(cross_entropy(x, idx({0, 1, 2}), Reduction::Mean, -100, 0.0, tensor(std::vector<double>{1, 2})),
                  ShapeError);
  CHECK_THROWS_AS(nll_loss(x, idx({0, 1, 2}), Reduction::Mean, -100, ones({4})), DTypeError);
  CHECK_THROWS_AS(mse_loss(x, x, Reduction::BatchMean), ValueError);
}

// F.huber_loss(a,b,reduction=red,delta=1.5), a=[0.3,-1.2,2.5,0,4], b=[0.1,0.5,-0.5,0,1]
TEST_CASE("huber_loss matches PyTorch", "[loss_extras]") {
  const Tensor a = t64({0.3, -1.2, 2.5, 0.0, 4.0}), b = t64({0.1, 0.5, -0.5, 0.0, 1.0});
  check_values(huber_loss(a, b, Reduction::None, 1.5), {0.02, 1.425, 3.375, 0.0, 3.375});
  check_values(huber_loss(a, b, Reduction::Mean, 1.5), {1.639});
  check_values(huber_loss(a, b, Reduction::Sum, 1.5), {8.195});
  CHECK_THROWS_AS(huber_loss(a, b, Reduction::Mean, 0.0), ValueError);
  require_gradcheck(
      [](const std::vector<Tensor>& in) { return std::vector<Tensor>{huber_loss(in[0], in[1], Reduction::Mean, 1.5)}; },
      {grad_input(a), grad_input(b)});
}

// F.binary_cross_entropy(pr,y,weight=bw,reduction=red) with pr=[0.2,0.9,0,1,0.5,1e-50],
// y=[0,1,1,0,0.3,1], bw=[1,2,0.5,1,3,1]: the clamped logs give 100 (and 50 with weight 0.5).
TEST_CASE("binary_cross_entropy clamps its logs at -100 as PyTorch", "[loss_extras]") {
  const Tensor pr = t64({0.2, 0.9, 0.0, 1.0, 0.5, 1e-50}), y = t64({0, 1, 1, 0, 0.3, 1}),
               bw = t64({1, 2, 0.5, 1, 3, 1});
  check_values(binary_cross_entropy(pr, y, bw, Reduction::None),
               {0.2231435513142097, 0.21072103131565256, 50.0, 100.0, 2.0794415416798357, 100.0});
  check_values(binary_cross_entropy(pr, y, bw, Reduction::Mean), {42.085551020718285});
  check_values(binary_cross_entropy(pr, y, bw, Reduction::Sum), {252.5133061243097});
  // At 0 and 1 the loss is finite and so is the gradient (0 there: the log is clamped).
  const Tensor p = pr.detach().set_requires_grad(true);
  const std::vector<double> g = grad({binary_cross_entropy(p, y, bw, Reduction::Sum)}, {p})[0].to_vector<double>();
  for (double v : g) CHECK(std::isfinite(v));
  CHECK(g[2] == 0.0);
  CHECK(g[3] == 0.0);
  // Inside (0, 1): w·(x - y) / (x·(1 - x)) (PyTorch's formula).
  const Tensor inner = t64({0.2, 0.7, 0.45}).detach().set_requires_grad(true);
  const Tensor yi = t64({0.0, 1.0, 0.3}), wi = t64({1.0, 2.0, 3.0});
  check_values(grad({binary_cross_entropy(inner, yi, wi, Reduction::Sum)}, {inner})[0],
               {0.2 / (0.2 * 0.8), 2.0 * -0.3 / (0.7 * 0.3), 3.0 * 0.15 / (0.45 * 0.55)});
  require_gradcheck(
      [&](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{binary_cross_entropy(in[0], in[1], wi, Reduction::Mean)};
      },
      {grad_input(t64({0.2, 0.7, 0.45})), grad_input(t64({0.1, 0.9, 0.3}))});
}

// lp = log_softmax([[0.1,0.5,-0.3],[1,2,0]]); tg = [[0.2,0,0.8],[0.5,0.25,0.25]]
// F.kl_div(lp,tg,reduction=red); F.kl_div(lp,log(tg+0.1),reduction=red,log_target=True)
TEST_CASE("kl_div matches PyTorch, batchmean and log_target included", "[loss_extras]") {
  const Tensor lp = log_softmax(t64({0.1, 0.5, -0.3, 1.0, 2.0, 0.0}, {2, 3}), 1);
  const Tensor tg = t64({0.2, 0.0, 0.8, 0.5, 0.25, 0.25}, {2, 3});
  check_values(kl_div(lp, tg, Reduction::None), {-0.09163747974112127, 0.0, 1.0624855699314275, 0.35722939194221753,
                                                 -0.24467209916887755, 0.2553279008311225});
  check_values(kl_div(lp, tg, Reduction::Mean), {0.2231222139657948});
  check_values(kl_div(lp, tg, Reduction::Sum), {1.3387332837947687});
  check_values(kl_div(lp, tg, Reduction::BatchMean), {0.6693666418973844});
  const Tensor lt = log(add(tg, 0.1));
  check_values(kl_div(lp, lt, Reduction::BatchMean, true), {0.9594338727634194});
  check_values(kl_div(lp, lt, Reduction::Mean, true), {0.3198112909211398});
  // The target's gradient is finite at target 0 (xlogy), and gradients match finite differences.
  const Tensor t = tg.detach().set_requires_grad(true);
  for (double v : grad({kl_div(lp, t, Reduction::Sum)}, {t})[0].to_vector<double>()) CHECK(std::isfinite(v));
  const Tensor tpos = t64({0.2, 0.1, 0.7, 0.5, 0.25, 0.25}, {2, 3});
  for (bool log_target : {false, true})
    require_gradcheck(
        [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{kl_div(in[0], in[1], Reduction::BatchMean, log_target)};
        },
        {grad_input(lp), grad_input(log_target ? lt : tpos)});
}

// lg=[[0.5,-1,2],[-0.3,0,4]], yy=[[1,0,1],[0.5,1,0]], ww=[2,0.5,1], pw=[1.5,1,3]
// F.binary_cross_entropy_with_logits(lg,yy,weight=ww,pos_weight=pw,reduction=red)
TEST_CASE("binary_cross_entropy_with_logits weight= and pos_weight= match PyTorch", "[loss_extras]") {
  const Tensor lg = t64({0.5, -1.0, 2.0, -0.3, 0.0, 4.0}, {2, 3}), yy = t64({1, 0, 1, 0.5, 1, 0}, {2, 3});
  const Tensor ww = t64({2, 0.5, 1}), pw = t64({1.5, 1, 3});
  check_values(binary_cross_entropy_with_logits(lg, yy, pw, Reduction::None, ww),
               {1.42223095254032, 0.1566308437591114, 0.38078403312891784, 1.8358881111713174, 0.34657359027997264,
                4.0181499279178094});
  check_values(binary_cross_entropy_with_logits(lg, yy, pw, Reduction::Mean, ww), {1.360042909799575});
  check_values(binary_cross_entropy_with_logits(lg, yy, pw, Reduction::Sum, ww), {8.16025745879745});
}

// x = sin(arange(24).reshape(2,3,4))*3; rm=[0.1,-0.2,0.3]; rv=[1,2,0.5]; w=[1.5,-0.5,2]; b=[0.1,0.2,-0.3]
// out = F.instance_norm(x,rm,rv,w,b,use_input_stats=True,momentum=0.2,eps=1e-5)  (updates rm, rv)
// F.instance_norm(x,rm,rv,w,b,use_input_stats=False,eps=1e-5)                   (with the updated ones)
TEST_CASE("instance_norm matches PyTorch, running statistics included", "[instance_norm]") {
  const Tensor x = mul(sin(to_dtype(reshape(arange(24), {2, 3, 4}), DType::Float64)), 3.0);
  const Tensor rm = t64({0.1, -0.2, 0.3}), rv = t64({1.0, 2.0, 0.5});
  const Tensor w = t64({1.5, -0.5, 2.0}), b = t64({0.1, 0.2, -0.3});
  check_values(
      instance_norm(x, rm, rv, w, b, true, 0.2, 1e-5),
      {-1.6465598469244696, 1.460768088738044,     1.7112330505294158,  -1.1254412923429908, 0.5386975694154457,
       0.7008194264003046,  0.15578551155293005,   -0.5953025073686803, 2.3249847794245015,  0.8466847089281436,
       -1.6019706452731668, -2.769698843079478,    -2.3262001604756564, 0.20322629166949321, 1.711354832382738,
       0.8116190364234251,  -0.003411588536194179, 0.7807726969769607,  0.5357811086354243,  -0.5131422170761909,
       1.6259418280103717,  1.4127884936392954,    -0.9495596686578577, -3.2891706529918094},
      1e-10);
  check_values(rm, {0.3362283300778729, -0.3991424886328412, 0.29639959426673806});
  check_values(rv, {1.384283228892749, 2.2875815348657467, 1.7467345408478077});
  const std::vector<double> eval = to_dtype(instance_norm(x, rm, rv, w, b, false), DType::Float64).to_vector<double>();
  CHECK(eval[0] == Catch::Approx(-0.328658574494732).epsilon(1e-10));
  CHECK(eval[23] == Catch::Approx(-4.590201362785799).epsilon(1e-10));
  CHECK_THROWS_AS(instance_norm(t64({1, 2, 3, 4}, {2, 2})), ShapeError);
  CHECK_THROWS_AS(instance_norm(t64({1, 2}, {1, 2, 1})), ValueError);  // one spatial element
  require_gradcheck(
      [](const std::vector<Tensor>& in) { return std::vector<Tensor>{instance_norm(in[0], {}, {}, in[1], in[2])}; },
      {grad_input(x), grad_input(w), grad_input(b)});
}

// v = [[3,-4,0],[0,0,0],[1e-13,0,0]]: F.normalize(v); F.normalize(v,p=1,dim=0);
// F.normalize(v,p=inf,dim=1); F.normalize(v,p=3,dim=1)
TEST_CASE("normalize matches PyTorch, zero rows and eps included", "[normalize]") {
  const Tensor v = t64({3, -4, 0, 0, 0, 0, 1e-13, 0, 0}, {3, 3});
  check_values(normalize(v), {0.6, -0.8, 0, 0, 0, 0, 0.1, 0, 0});
  check_values(normalize(v, 1.0, 0), {0.9999999999999667, -1, 0, 0, 0, 0, 3.3333333333332224e-14, 0, 0});
  check_values(normalize(v, INFINITY, 1), {0.75, -1, 0, 0, 0, 0, 0.1, 0, 0});
  check_values(normalize(v, 3.0, 1), {0.6669717773118556, -0.8892957030824742, 0, 0, 0, 0, 0.1, 0, 0});
  // The zero row's gradient is finite (1/eps), not NaN.
  const Tensor z = zeros({1, 3}, {.dtype = DType::Float64}).set_requires_grad(true);
  for (double g : grad({sum(normalize(z))}, {z})[0].to_vector<double>()) CHECK(std::isfinite(g));
  const Tensor r = t64({0.3, -1.2, 2.0, 0.5, 0.7, -0.1}, {2, 3});
  for (double p : {1.0, 2.0, 3.0, double(INFINITY)})
    require_gradcheck([p](const std::vector<Tensor>& in) { return std::vector<Tensor>{normalize(in[0], p, 1)}; },
                      {grad_input(r)});
}

// x = arange(6.).reshape(1,2,3): F.pad(x,p,mode=m) for the pads below (outputs printed by torch).
TEST_CASE("pad: every mode, cropping and PyTorch's errors", "[pad]") {
  const Tensor x = to_dtype(reshape(arange(6), {1, 2, 3}), DType::Float64);
  check_values(pad(x, {-1, 1}, PadMode::Reflect), {1, 2, 1, 4, 5, 4});
  check_values(pad(x, {1, -1}, PadMode::Reflect), {1, 0, 1, 4, 3, 4});
  check_values(pad(x, {2, 2}, PadMode::Reflect), {2, 1, 0, 1, 2, 1, 0, 5, 4, 3, 4, 5, 4, 3});
  check_values(pad(x, {3, 0}, PadMode::Replicate), {0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 4, 5});
  check_values(pad(x, {1, -1}, PadMode::Replicate), {0, 0, 1, 3, 3, 4});
  check_values(pad(x, {2, 2}, PadMode::Circular), {1, 2, 0, 1, 2, 0, 1, 4, 5, 3, 4, 5, 3, 4});
  check_values(pad(x, {3, 0}, PadMode::Circular), {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  // Circular crops first and wraps around what is left, as PyTorch 1.13:
  // F.pad(arange(3.).reshape(1,1,3), p, mode='circular') for p = (-1,2), (2,-1), (1,-1).
  const Tensor r = to_dtype(reshape(arange(3), {1, 1, 3}), DType::Float64);
  check_values(pad(r, {-1, 2}, PadMode::Circular), {1, 2, 1, 2});
  check_values(pad(r, {2, -1}, PadMode::Circular), {0, 1, 0, 1});
  check_values(pad(r, {1, -1}, PadMode::Circular), {1, 0, 1});
  // Reflect mirrors about the input's own ends: F.pad(r[..., :2], (-1, 1), mode='reflect') on
  // [[[0, 1]]] gives [[[1, 0]]] (the cropped [1] alone could not be reflected).
  check_values(pad(slice(r, 2, 0, 2), {-1, 1}, PadMode::Reflect), {1, 0});
  // Circular padding beyond the cropped size: PyTorch 1.13 returns uninitialized memory there.
  CHECK_THROWS_AS(pad(r, {3, -1}, PadMode::Circular), ShapeError);
  CHECK_THROWS_AS(pad(select(r, 0, 0), {1, 1}, PadMode::Circular), ShapeError);  // circular needs a batch dim
  // Constant: two dims, value, cropping.
  check_values(pad(x, {1, -2, 0, 1}, PadMode::Constant, 9.0), {9, 0, 9, 3, 9, 9});
  const Tensor p2 = pad(x, {0, 0, 1, 0}, PadMode::Reflect);
  CHECK(p2.shape() == Shape{1, 3, 3});
  check_values(p2, {3, 4, 5, 0, 1, 2, 3, 4, 5});
  CHECK_THROWS_AS(pad(x, {3, 0}, PadMode::Reflect), ShapeError);
  CHECK_THROWS_AS(pad(x, {0, 4}, PadMode::Circular), ShapeError);
  CHECK_THROWS_AS(pad(x, {1, 1, 1}), ValueError);
  CHECK_THROWS_AS(pad(x, {1, 1, 1, 1, 1, 1, 1, 1}), ShapeError);
  CHECK_THROWS_AS(pad(x, {-2, -2}), ShapeError);
  CHECK_THROWS_AS(pad(x, {1, 1}, PadMode::Reflect, 1.0), ValueError);
  CHECK_THROWS_AS(pad(t64({1, 2, 3}), {1, 1}, PadMode::Reflect), ShapeError);  // 1-d: PyTorch refuses too
  const Tensor y = make_input({2, 3, 4, 5}, DType::Float64, 7);
  for (PadMode m : {PadMode::Constant, PadMode::Reflect, PadMode::Replicate, PadMode::Circular})
    require_gradcheck(
        [m](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{pad(in[0], {2, 1, -1, 3}, m)};
        },
        {grad_input(y)});
}

// p = tensor([1,-2,0.5], float64, requires_grad); loss = (p**3).sum() + (p*[1,2,3]).sum()
// opt = torch.optim.Adagrad([p],lr=0.1,lr_decay=0.01,weight_decay=0.05,initial_accumulator_value=0.2,eps=1e-8)
// five steps; p after each, and state['sum'] at the end.
TEST_CASE("Adagrad follows PyTorch's trajectory, state dict keys included", "[adagrad]") {
  const Tensor p = t64({1.0, -2.0, 0.5}).detach().set_requires_grad(true);
  optim::Adagrad opt(
      {p}, {.lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.05, .initial_accumulator_value = 0.2, .eps = 1e-8});
  const std::vector<std::vector<double>> want = {{0.900604144120932, -2.099948282920122, 0.4006944229668992},
                                                 {0.8363211413751426, -2.172830049950083, 0.3336133108604405},
                                                 {0.7867453914148747, -2.2331943771325893, 0.2802826790719757},
                                                 {0.7457078016580643, -2.285887865379639, 0.23497867997019795},
                                                 {0.7103943094121374, -2.333229682610314, 0.19506638802488158}};
  for (const auto& w : want) {
    opt.zero_grad();
    backward({add(sum(pow(p, 3.0)), sum(mul(p, t64({1, 2, 3}))))});
    opt.step();
    check_values(p, w, 1e-13);
  }
  const StateDict sd = opt.state_dict();
  auto find = [&](const std::string& k) {
    for (const auto& [name, t] : sd)
      if (name == k) return t;
    return Tensor();
  };
  check_values(find("state.0.sum"), {54.269439036773036, 1272.2411502710975, 58.59520698886163}, 1e-13);
  CHECK(find("state.0.step").item<double>() == 5.0);
  CHECK(find("param_groups.0.lr_decay").item<double>() == 0.01);
  CHECK(find("param_groups.0.initial_accumulator_value").item<double>() == 0.2);
  CHECK_THROWS_AS(optim::Adagrad(std::vector<Tensor>{p}, optim::AdagradOptions{.lr_decay = -1}), ValueError);
}

TEST_CASE("Optimizer::set_group_option validates and keeps the old value on error", "[adagrad]") {
  const Tensor p = t64({1.0}).detach().set_requires_grad(true);
  optim::Adagrad opt({p});
  opt.set_group_option(0, "lr", 0.5);
  CHECK(opt.lr(0) == 0.5);
  opt.set_group_option(0, "maximize", 1);
  CHECK(opt.options(0).maximize);
  CHECK_THROWS_AS(opt.set_group_option(0, "eps", -1.0), ValueError);
  CHECK(opt.options(0).eps == 1e-10);
  CHECK_THROWS_AS(opt.set_group_option(0, "momentum", 0.9), ValueError);
}

}  // namespace doppel::testing
