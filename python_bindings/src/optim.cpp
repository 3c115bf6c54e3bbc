// Optimizers and LR schedulers. Options come from Python keywords matched by name against each
// C++ Options struct's visit() list (one generic path for every optimizer, with PyTorch's
// `betas` pair); a list of dicts gives parameter groups as in PyTorch.
#include <nanobind/stl/shared_ptr.h>

#include <set>

#include <fmt/format.h>

#include "bind.h"
#include "doppel/optim/optim.h"

namespace doppel::py {
namespace {

using namespace doppel::optim;  // NOLINT

template <class Options>
Options options_from(const char* opt, Options o, nb::handle kw, std::set<std::string> ignore = {}) {
  std::set<std::string> used = std::move(ignore);
  nb::dict d = nb::borrow<nb::dict>(kw);
  o.visit([&](const char* n, auto& v, bool = true) {
    if (d.contains(n)) {
      v = nb::cast<std::remove_reference_t<decltype(v)>>(d[n]);
      used.insert(n);
    }
  });
  if constexpr (requires { o.betas; }) {
    if (d.contains("betas")) {
      auto b = nb::cast<std::pair<double, double>>(d["betas"]);
      o.betas = {b.first, b.second};
      used.insert("betas");
    }
  }
  if constexpr (requires { o.fused; }) {
    if (d.contains("fused")) {  // not a visit() field: a layout choice, kept out of state dicts
      o.fused = nb::cast<bool>(d["fused"]);
      used.insert("fused");
    }
  }
  for (auto [k, v] : d) {
    std::string key = nb::cast<std::string>(k);
    if (!used.count(key)) throw nb::type_error(fmt::format("{}: unexpected option '{}'", opt, key).c_str());
  }
  return o;
}

template <class Opt, class Options>
std::vector<typename Opt::Group> groups_from(const char* name, nb::handle params, const nb::kwargs& kw,
                                             const Options& base) {
  Options defaults = options_from(name, base, kw);
  std::vector<typename Opt::Group> groups;
  std::vector<Tensor> loose;
  for (nb::handle p : nb::iter(params)) {
    if (nb::isinstance<nb::dict>(p)) {
      nb::dict g = nb::borrow<nb::dict>(p);
      DOPPEL_CHECK(g.contains("params"), "{}: a parameter group needs a 'params' entry", name);
      std::vector<Tensor> ps;
      for (nb::handle t : nb::iter(g["params"])) ps.push_back(tensor_arg(t, name));
      groups.push_back({std::move(ps), options_from(name, defaults, g, {"params"})});
    } else {
      loose.push_back(tensor_arg(p, name));
    }
  }
  DOPPEL_CHECK(groups.empty() || loose.empty(), "{}: pass either tensors or parameter-group dicts, not both", name);
  if (groups.empty()) groups.push_back({std::move(loose), defaults});
  return groups;
}

template <class Opt, class Options>
void bind_optimizer(nb::module_& m, const char* name, Options base) {
  nb::class_<Opt, Optimizer>(m, name)
      .def(
          "__init__",
          [name, base](Opt* self, nb::handle params, const nb::kwargs& kw) {
            new (self) Opt(groups_from<Opt>(name, params, kw, base));
          },
          nb::arg("params"), nb::arg("kwargs"))
      // PyTorch's add_param_group with every option given (doppel.optim fills in the defaults).
      .def(
          "_add_param_group",
          [name, base](Opt& self, nb::handle params, const nb::kwargs& kw) {
            std::vector<Tensor> ps;
            for (nb::handle t : nb::iter(params)) ps.push_back(tensor_arg(t, name));
            self.add_param_group({std::move(ps), options_from(name, base, kw)});
          },
          nb::arg("params"), nb::arg("kwargs"));
}

// PyTorch's param_groups[g]: "params" first, then the options, Adam's beta1/beta2 as "betas".
nb::dict group_dict(Optimizer& op, size_t g) {
  nb::dict d;
  d["params"] = op.group_params(g);
  for (const FieldRef& f : op.group_options(g)) {
    if (f.kind == FieldRef::Kind::Flag)
      d[f.name] = *static_cast<const bool*>(f.ptr);
    else if (f.kind == FieldRef::Kind::Real)
      d[f.name] = *static_cast<const double*>(f.ptr);
  }
  if (d.contains("beta1")) {
    d["betas"] = nb::make_tuple(d["beta1"], d["beta2"]);
    nb::del(d["beta1"]);
    nb::del(d["beta2"]);
  }
  return d;
}

void set_group_option(Optimizer& op, size_t g, const std::string& key, nb::handle value) {
  if (key == "betas") {
    const auto b = nb::cast<std::pair<double, double>>(value);
    op.set_group_option(g, "beta1", b.first);
    op.set_group_option(g, "beta2", b.second);
    return;
  }
  op.set_group_option(g, key, nb::cast<double>(value));
}

nb::dict to_dict(const StateDict& sd) {
  nb::dict d;
  for (const auto& [k, v] : sd) d[k.c_str()] = v;
  return d;
}
StateDict from_dict(const nb::dict& d) {
  StateDict sd;
  for (auto [k, v] : d) sd.emplace_back(nb::cast<std::string>(nb::str(k)), tensor_arg(v, "load_state_dict"));
  return sd;
}

void bind_schedulers(nb::module_& m) {
  nb::class_<LRScheduler>(m, "LRScheduler")
      .def("step", &LRScheduler::step)
      .def("get_last_lr", &LRScheduler::get_last_lr)
      .def_prop_ro("last_epoch", &LRScheduler::last_epoch)
      .def_prop_ro("base_lrs", &LRScheduler::base_lrs)
      .def("state_dict", [](const LRScheduler& s) { return to_dict(s.state_dict()); })
      .def(
          "load_state_dict", [](LRScheduler& s, const nb::dict& d) { s.load_state_dict(from_dict(d)); },
          nb::arg("state_dict"));
  using KA = nb::keep_alive<1, 2>;  // a scheduler keeps its optimizer alive
  nb::class_<StepLR, LRScheduler>(m, "StepLR")
      .def(nb::init<Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("step_size"), nb::arg("gamma") = 0.1,
           KA());
  nb::class_<CosineAnnealingLR, LRScheduler>(m, "CosineAnnealingLR")
      .def(nb::init<Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("T_max"), nb::arg("eta_min") = 0.0,
           KA());
  nb::class_<LinearLR, LRScheduler>(m, "LinearLR")
      .def(nb::init<Optimizer&, double, double, int64_t>(), nb::arg("optimizer"), nb::arg("start_factor") = 1.0 / 3,
           nb::arg("end_factor") = 1.0, nb::arg("total_iters") = 5, KA());
  nb::class_<SequentialLR, LRScheduler>(m, "SequentialLR")
      .def(nb::init<Optimizer&, std::vector<std::shared_ptr<LRScheduler>>, std::vector<int64_t>>(),
           nb::arg("optimizer"), nb::arg("schedulers"), nb::arg("milestones"), KA(), nb::keep_alive<1, 3>());
  nb::class_<OneCycleLR, LRScheduler>(m, "OneCycleLR")
      .def(
          "__init__",
          [](OneCycleLR* self, Optimizer& opt, double max_lr, int64_t total_steps, double pct_start,
             std::string_view anneal, bool cycle_momentum, double base_m, double max_m, double div, double final_div,
             bool three_phase) {
            DOPPEL_CHECK(anneal == "cos" || anneal == "linear",
                         "OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                         "got '{}'",
                         anneal);
            new (self)
                OneCycleLR(opt, max_lr, total_steps,
                           OneCycleOptions{pct_start, anneal == "cos" ? AnnealStrategy::Cos : AnnealStrategy::Linear,
                                           cycle_momentum, base_m, max_m, div, final_div, three_phase});
          },
          nb::arg("optimizer"), nb::arg("max_lr"), nb::arg("total_steps"), nb::arg("pct_start") = 0.3,
          nb::arg("anneal_strategy") = "cos", nb::arg("cycle_momentum") = true, nb::arg("base_momentum") = 0.85,
          nb::arg("max_momentum") = 0.95, nb::arg("div_factor") = 25.0, nb::arg("final_div_factor") = 1e4,
          nb::arg("three_phase") = false, KA());
}

}  // namespace

void bind_optim(nb::module_& m) {
  nb::module_ o = m.def_submodule("optim", "Optimizers and learning-rate schedulers.");
  nb::class_<Optimizer>(o, "Optimizer")
      .def("step", &Optimizer::step, Release())
      .def("zero_grad", &Optimizer::zero_grad, nb::arg("set_to_none") = true)
      .def_prop_rw(
          "lr", [](const Optimizer& op) { return op.lr(0); }, [](Optimizer& op, double lr) { op.set_lr(lr); })
      .def("get_lr", &Optimizer::lr, nb::arg("group") = 0)
      .def(
          "set_lr",
          [](Optimizer& op, double lr, std::optional<size_t> g) {
            if (g)
              op.set_lr(lr, *g);
            else
              op.set_lr(lr);
          },
          nb::arg("lr"), nb::arg("group") = nb::none())
      .def_prop_ro("num_param_groups", &Optimizer::num_param_groups)
      .def("_group", &group_dict, nb::arg("group"))
      .def("_set_group_option", &set_group_option, nb::arg("group"), nb::arg("key"), nb::arg("value"))
      .def("parameters", &Optimizer::parameters)
      .def("state_dict", [](const Optimizer& op) { return to_dict(op.state_dict()); })
      .def(
          "load_state_dict", [](Optimizer& op, const nb::dict& d) { op.load_state_dict(from_dict(d)); },
          nb::arg("state_dict"))
      .def("__repr__", [](const Optimizer& op) {
        return fmt::format("{}(param_groups={}, lr={})", op.name(), op.num_param_groups(), op.lr(0));
      });
  bind_optimizer<SGD>(o, "SGD", SGDOptions{});
  bind_optimizer<Adam>(o, "Adam", AdamOptions{});
  bind_optimizer<AdamW>(o, "AdamW", AdamWOptions{});
  bind_optimizer<RMSprop>(o, "RMSprop", RMSpropOptions{});
  bind_optimizer<Adagrad>(o, "Adagrad", AdagradOptions{});
  bind_optimizer<Adadelta>(o, "Adadelta", AdadeltaOptions{});
  bind_schedulers(o);
  o.def(
      "clip_grad_norm_",
      [](std::vector<Tensor> ps, double max_norm, double norm_type, bool err) {
        return clip_grad_norm_(ps, max_norm, norm_type, err);
      },
      nb::arg("parameters"), nb::arg("max_norm"), nb::arg("norm_type") = 2.0, nb::arg("error_if_nonfinite") = false);
  o.def(
      "clip_grad_value_", [](std::vector<Tensor> ps, double v) { clip_grad_value_(ps, v); }, nb::arg("parameters"),
      nb::arg("clip_value"));
}

}  // namespace doppel::py
