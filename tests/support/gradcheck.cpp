#include "support/gradcheck.h"

#include <cmath>
#include <random>

namespace doppel::testing {
namespace {

std::vector<Tensor> floating_outputs(const std::vector<Tensor>& outs) {
  std::vector<Tensor> r;
  for (const Tensor& o : outs)
    if (o.defined() && is_floating(o.dtype())) r.push_back(o);
  return r;
}

// sum_k <v_k, out_k> as a double, computed without autograd.
double dot_outputs(const std::vector<Tensor>& outs, const std::vector<std::vector<double>>& v) {
  double s = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    const std::vector<double> o = outs[k].to_vector<double>();
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * v[k][i];
  }
  return s;
}

}  // namespace

Tensor grad_input(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return t;
  Tensor c = to_dtype(t, DType::Float64).clone();
  c.set_requires_grad(true);
  return c;
}

std::optional<std::string> gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                                     const GradcheckOptions& opt) {
  std::vector<Tensor> outs = floating_outputs(f(inputs));
  std::vector<Tensor> diff_outs;
  std::vector<std::vector<double>> v;
  std::vector<Tensor> v_tensors;
  std::mt19937_64 rng(opt.seed);
  std::uniform_real_distribution<double> dist(-1, 1);
  for (const Tensor& o : outs) {
    std::vector<double> vk(size_t(o.numel()));
    for (double& x : vk) x = dist(rng);
    v.push_back(vk);
    if (o.requires_grad()) {
      diff_outs.push_back(o);
      v_tensors.push_back(to_dtype(view(tensor(vk), o.shape()), o.dtype()));
    }
  }
  std::vector<Tensor> wrt;
  std::vector<size_t> wrt_index;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      wrt.push_back(inputs[i]);
      wrt_index.push_back(i);
    }
  if (wrt.empty()) return "gradcheck: no input requires grad";
  std::vector<Tensor> analytic(wrt.size());
  if (!diff_outs.empty())
    analytic = grad(diff_outs, wrt, v_tensors, /*retain_graph=*/true, /*create_graph=*/false, /*allow_unused=*/true);
  for (size_t w = 0; w < wrt.size(); ++w) {
    const Tensor& x = wrt[w];
    const std::vector<double> a = analytic[w].defined() ? analytic[w].to_vector<double>()
                                                        : std::vector<double>(size_t(x.numel()), 0.0);
    Tensor xd = x.detach();
    double* p = xd.contiguous().is_same(xd) ? xd.data_ptr<double>() : nullptr;
    if (!p) return "gradcheck: inputs must be contiguous float64";
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double orig = p[i];
      double fp, fm;
      {
        NoGradGuard ng;
        p[i] = orig + opt.eps;
        fp = dot_outputs(floating_outputs(f(inputs)), v);
        p[i] = orig - opt.eps;
        fm = dot_outputs(floating_outputs(f(inputs)), v);
        p[i] = orig;
      }
      const double numeric = (fp - fm) / (2 * opt.eps);
      if (std::fabs(numeric - a[size_t(i)]) > opt.atol + opt.rtol * std::fabs(numeric))
        return fmt::format("gradcheck: input {} element {}: analytic {} vs numeric {}", wrt_index[w], i,
                           a[size_t(i)], numeric);
    }
  }
  return std::nullopt;
}

std::optional<std::string> gradgradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                                         const GradcheckOptions& opt) {
  // v is a fixed random input of the second-order function; its own gradient is checked too.
  std::vector<Tensor> outs = floating_outputs(f(inputs));
  std::mt19937_64 rng(opt.seed + 7);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<Tensor> vs;
  for (const Tensor& o : outs) {
    std::vector<double> vk(size_t(o.numel()));
    for (double& x : vk) x = dist(rng);
    vs.push_back(grad_input(view(tensor(vk), o.shape())));
  }
  const size_t n_in = inputs.size();
  TensorFn second = [&](const std::vector<Tensor>& all) {
    std::vector<Tensor> in(all.begin(), all.begin() + std::ptrdiff_t(n_in));
    std::vector<Tensor> v(all.begin() + std::ptrdiff_t(n_in), all.end());
    std::vector<Tensor> o = floating_outputs(f(in));
    std::vector<Tensor> diff_o, diff_v;
    for (size_t k = 0; k < o.size(); ++k)
      if (o[k].requires_grad()) {
        diff_o.push_back(o[k]);
        diff_v.push_back(v[k]);
      }
    std::vector<Tensor> wrt;
    for (const Tensor& t : in)
      if (t.defined() && t.requires_grad()) wrt.push_back(t);
    if (!grad_mode_enabled()) {
      // Under NoGradGuard (the numeric side) compute vᵀJ with a fresh graph anyway.
      EnableGradGuard eg;
      std::vector<Tensor> in2;
      for (const Tensor& t : in) in2.push_back(t.defined() && t.requires_grad() ? t.detach().set_requires_grad(true) : t);
      std::vector<Tensor> o2 = floating_outputs(f(in2));
      std::vector<Tensor> d2, v2, w2;
      for (size_t k = 0; k < o2.size(); ++k)
        if (o2[k].requires_grad()) {
          d2.push_back(o2[k]);
          v2.push_back(v[k].detach());
        }
      for (const Tensor& t : in2)
        if (t.defined() && t.requires_grad()) w2.push_back(t);
      std::vector<Tensor> g = grad(d2, w2, v2, true, false, true);
      for (Tensor& x : g) x = x.defined() ? x.detach() : x;
      return g;
    }
    return grad(diff_o, wrt, diff_v, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
  };
  std::vector<Tensor> all(inputs);
  all.insert(all.end(), vs.begin(), vs.end());
  return gradcheck(second, all, opt);
}

}  // namespace doppel::testing
