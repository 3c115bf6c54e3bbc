// The C++ nn modules as doppel._C.nn classes. The Python doppel.nn package wraps each one in a
// doppel.nn.Module (python_bindings/doppel/nn/modules.py) whose parameters are these modules'
// own tensors, so C++ optimizers, compile() and state dicts all see the same storage.
#include <nanobind/stl/shared_ptr.h>

#include "bind.h"
#include "doppel/nn/nn.h"

namespace doppel::py {
namespace {

using namespace doppel::nn;  // NOLINT: the module names are the point here

Size2 size2(const Ints& v, const char* what) {
  DOPPEL_CHECK(v.v.size() == 1 || v.v.size() == 2, "{}: expected an int or a pair of ints, got {} values", what,
               v.v.size());
  return v.v.size() == 1 ? Size2(v.v[0]) : Size2(v.v[0], v.v[1]);
}
std::optional<Size2> opt_size2(const std::optional<Ints>& v, const char* what) {
  if (!v) return std::nullopt;
  return size2(*v, what);
}
std::optional<Tensor> opt(const Tensor& t) { return t.defined() ? std::optional<Tensor>(t) : std::nullopt; }

template <class M>
using Cls = nb::class_<M, Module>;

void bind_base(nb::module_& nn) {
  nb::class_<Module>(nn, "Module", "A C++ doppel module (wrapped by doppel.nn for Python use).")
      .def(
          "forward", [](Module& m, const Tensor& x) { return m.forward(x); }, nb::arg("input"), Release())
      .def(
          "named_parameters", [](const Module& m, bool r) { return m.named_parameters(r); }, nb::arg("recurse") = true)
      .def(
          "named_buffers", [](const Module& m, bool r) { return m.named_buffers(r); }, nb::arg("recurse") = true)
      .def("state_dict", &Module::state_dict)
      .def("load_state_dict", &Module::load_state_dict, nb::arg("state_dict"), nb::arg("strict") = true)
      .def(
          "train", [](Module& m, bool on) { m.train(on); }, nb::arg("mode") = true)
      .def_prop_ro("training", &Module::is_training)
      .def(
          "to_dtype", [](Module& m, DType d) { m.to(d); }, nb::arg("dtype"))
      .def(
          "to_device", [](Module& m, Device d) { m.to(d); }, nb::arg("device"))
      .def("zero_grad", &Module::zero_grad)
      .def_prop_ro("type_name", &Module::type_name)
      .def("__repr__", &Module::str);
}

void bind_layers(nb::module_& nn) {
  Cls<Linear>(nn, "Linear")
      .def(nb::init<int64_t, int64_t, bool, DType>(), nb::arg("in_features"), nb::arg("out_features"),
           nb::arg("bias") = true, nb::arg("dtype") = DType::Float32)
      .def_ro("in_features", &Linear::in_features)
      .def_ro("out_features", &Linear::out_features);
  Cls<Identity>(nn, "Identity").def(nb::init<>());
  Cls<Conv1d>(nn, "Conv1d")
      .def(
          "__init__",
          [](Conv1d* self, int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d, int64_t g, bool bias,
             DType dt) {
            new (self) Conv1d(Conv1dOptions{in, out, k, s, p, d, g, bias, dt});
          },
          nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = 1,
          nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1, nb::arg("bias") = true,
          nb::arg("dtype") = DType::Float32);
  Cls<Conv2d>(nn, "Conv2d")
      .def(
          "__init__",
          [](Conv2d* self, int64_t in, int64_t out, Ints k, Ints s, Ints p, Ints d, int64_t g, bool bias, DType dt) {
            new (self) Conv2d(Conv2dOptions{in, out, size2(k, "Conv2d kernel_size"), size2(s, "Conv2d stride"),
                                            size2(p, "Conv2d padding"), size2(d, "Conv2d dilation"), g, bias, dt});
          },
          nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = Ints{{1}},
          nb::arg("padding") = Ints{{0}}, nb::arg("dilation") = Ints{{1}}, nb::arg("groups") = 1,
          nb::arg("bias") = true, nb::arg("dtype") = DType::Float32);
  Cls<ConvTranspose2d>(nn, "ConvTranspose2d")
      .def(
          "__init__",
          [](ConvTranspose2d* self, int64_t in, int64_t out, Ints k, Ints s, Ints p, Ints op, int64_t g, bool bias,
             Ints d, DType dt) {
            new (self) ConvTranspose2d(ConvTranspose2dOptions{
                in, out, size2(k, "ConvTranspose2d kernel_size"), size2(s, "ConvTranspose2d stride"),
                size2(p, "ConvTranspose2d padding"), size2(op, "ConvTranspose2d output_padding"), g, bias,
                size2(d, "ConvTranspose2d dilation"), dt});
          },
          nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = Ints{{1}},
          nb::arg("padding") = Ints{{0}}, nb::arg("output_padding") = Ints{{0}}, nb::arg("groups") = 1,
          nb::arg("bias") = true, nb::arg("dilation") = Ints{{1}}, nb::arg("dtype") = DType::Float32);
  Cls<BatchNorm1d>(nn, "BatchNorm1d")
      .def(nb::init<int64_t, double, std::optional<double>, bool, bool, DType>(), nb::arg("num_features"),
           nb::arg("eps") = 1e-5, nb::arg("momentum").none() = 0.1, nb::arg("affine") = true,
           nb::arg("track_running_stats") = true, nb::arg("dtype") = DType::Float32);
  Cls<BatchNorm2d>(nn, "BatchNorm2d")
      .def(nb::init<int64_t, double, std::optional<double>, bool, bool, DType>(), nb::arg("num_features"),
           nb::arg("eps") = 1e-5, nb::arg("momentum").none() = 0.1, nb::arg("affine") = true,
           nb::arg("track_running_stats") = true, nb::arg("dtype") = DType::Float32);
  Cls<LayerNorm>(nn, "LayerNorm")
      .def(
          "__init__",
          [](LayerNorm* self, Ints shape, double eps, bool affine, bool bias, DType dt) {
            new (self) LayerNorm(shape.v, eps, affine, bias, dt);
          },
          nb::arg("normalized_shape"), nb::arg("eps") = 1e-5, nb::arg("elementwise_affine") = true,
          nb::arg("bias") = true, nb::arg("dtype") = DType::Float32);
  Cls<GroupNorm>(nn, "GroupNorm")
      .def(nb::init<int64_t, int64_t, double, bool, DType>(), nb::arg("num_groups"), nb::arg("num_channels"),
           nb::arg("eps") = 1e-5, nb::arg("affine") = true, nb::arg("dtype") = DType::Float32);
  Cls<InstanceNorm1d>(nn, "InstanceNorm1d")
      .def(nb::init<int64_t, double, double, bool, bool, DType>(), nb::arg("num_features"), nb::arg("eps") = 1e-5,
           nb::arg("momentum") = 0.1, nb::arg("affine") = false, nb::arg("track_running_stats") = false,
           nb::arg("dtype") = DType::Float32);
  Cls<InstanceNorm2d>(nn, "InstanceNorm2d")
      .def(nb::init<int64_t, double, double, bool, bool, DType>(), nb::arg("num_features"), nb::arg("eps") = 1e-5,
           nb::arg("momentum") = 0.1, nb::arg("affine") = false, nb::arg("track_running_stats") = false,
           nb::arg("dtype") = DType::Float32);
  Cls<Dropout>(nn, "Dropout").def(nb::init<double>(), nb::arg("p") = 0.5);
  Cls<Embedding>(nn, "Embedding")
      .def(nb::init<int64_t, int64_t, std::optional<int64_t>, DType>(), nb::arg("num_embeddings"),
           nb::arg("embedding_dim"), nb::arg("padding_idx") = nb::none(), nb::arg("dtype") = DType::Float32);
  Cls<MaxPool2d>(nn, "MaxPool2d")
      .def(
          "__init__",
          [](MaxPool2d* self, Ints k, std::optional<Ints> s, Ints p, Ints d, bool ceil) {
            new (self) MaxPool2d(size2(k, "MaxPool2d kernel_size"), opt_size2(s, "MaxPool2d stride"),
                                 size2(p, "MaxPool2d padding"), size2(d, "MaxPool2d dilation"), ceil);
          },
          nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = Ints{{0}},
          nb::arg("dilation") = Ints{{1}}, nb::arg("ceil_mode") = false);
  Cls<AvgPool2d>(nn, "AvgPool2d")
      .def(
          "__init__",
          [](AvgPool2d* self, Ints k, std::optional<Ints> s, Ints p, bool ceil, bool cip, std::optional<int64_t> dv) {
            new (self) AvgPool2d(size2(k, "AvgPool2d kernel_size"), opt_size2(s, "AvgPool2d stride"),
                                 size2(p, "AvgPool2d padding"), ceil, cip, dv);
          },
          nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = Ints{{0}},
          nb::arg("ceil_mode") = false, nb::arg("count_include_pad") = true, nb::arg("divisor_override") = nb::none());
  Cls<AdaptiveAvgPool2d>(nn, "AdaptiveAvgPool2d")
      .def(
          "__init__",
          [](AdaptiveAvgPool2d* self, Ints o) {
            new (self) AdaptiveAvgPool2d(size2(o, "AdaptiveAvgPool2d output_size"));
          },
          nb::arg("output_size"));
  Cls<AdaptiveMaxPool2d>(nn, "AdaptiveMaxPool2d")
      .def(
          "__init__",
          [](AdaptiveMaxPool2d* self, Ints o) {
            new (self) AdaptiveMaxPool2d(size2(o, "AdaptiveMaxPool2d output_size"));
          },
          nb::arg("output_size"))
      .def("forward_with_indices", &AdaptiveMaxPool2d::forward_with_indices, nb::arg("input"), Release());
  Cls<MaxPool1d>(nn, "MaxPool1d")
      .def(nb::init<int64_t, std::optional<int64_t>, int64_t, int64_t, bool>(), nb::arg("kernel_size"),
           nb::arg("stride") = nb::none(), nb::arg("padding") = 0, nb::arg("dilation") = 1,
           nb::arg("ceil_mode") = false)
      .def("forward_with_indices", &MaxPool1d::forward_with_indices, nb::arg("input"), Release());
  Cls<AvgPool1d>(nn, "AvgPool1d")
      .def(nb::init<int64_t, std::optional<int64_t>, int64_t, bool, bool>(), nb::arg("kernel_size"),
           nb::arg("stride") = nb::none(), nb::arg("padding") = 0, nb::arg("ceil_mode") = false,
           nb::arg("count_include_pad") = true);
  Cls<Flatten>(nn, "Flatten").def(nb::init<int64_t, int64_t>(), nb::arg("start_dim") = 1, nb::arg("end_dim") = -1);
}

void bind_activations(nb::module_& nn) {
  Cls<ReLU>(nn, "ReLU").def(nb::init<>());
  Cls<Sigmoid>(nn, "Sigmoid").def(nb::init<>());
  Cls<Tanh>(nn, "Tanh").def(nb::init<>());
  Cls<SiLU>(nn, "SiLU").def(nb::init<>());
  Cls<GELU>(nn, "GELU").def(nb::init<std::string>(), nb::arg("approximate") = "none");
  Cls<LeakyReLU>(nn, "LeakyReLU").def(nb::init<double>(), nb::arg("negative_slope") = 0.01);
  Cls<ELU>(nn, "ELU").def(nb::init<double>(), nb::arg("alpha") = 1.0);
  Cls<Softplus>(nn, "Softplus").def(nb::init<double, double>(), nb::arg("beta") = 1.0, nb::arg("threshold") = 20.0);
  Cls<Softmax>(nn, "Softmax").def(nb::init<int64_t>(), nb::arg("dim"));
  Cls<LogSoftmax>(nn, "LogSoftmax").def(nb::init<int64_t>(), nb::arg("dim"));
  Cls<Hardtanh>(nn, "Hardtanh")
      .def(nb::init<double, double, bool>(), nb::arg("min_val") = -1.0, nb::arg("max_val") = 1.0,
           nb::arg("inplace") = false);
  Cls<ReLU6>(nn, "ReLU6").def(nb::init<bool>(), nb::arg("inplace") = false);
  Cls<Hardswish>(nn, "Hardswish").def(nb::init<bool>(), nb::arg("inplace") = false);
  Cls<Hardsigmoid>(nn, "Hardsigmoid").def(nb::init<bool>(), nb::arg("inplace") = false);
  Cls<Mish>(nn, "Mish").def(nb::init<bool>(), nb::arg("inplace") = false);
  Cls<SELU>(nn, "SELU").def(nb::init<bool>(), nb::arg("inplace") = false);
  Cls<LogSigmoid>(nn, "LogSigmoid").def(nb::init<>());
}

void bind_losses(nb::module_& nn) {
  nb::class_<Loss, Module>(nn, "Loss")
      .def(
          "forward", [](Loss& l, const Tensor& x, const Tensor& y) { return l.forward(x, y); }, nb::arg("input"),
          nb::arg("target"), Release());
  auto red = [](std::string_view r) { return reduction_from(r); };
  auto w_or = [](const std::optional<Tensor>& t) { return t.value_or(Tensor{}); };
  nb::class_<CrossEntropyLoss, Loss>(nn, "CrossEntropyLoss")
      .def(
          "__init__",
          [red, w_or](CrossEntropyLoss* self, std::optional<Tensor> w, int64_t ii, std::string_view r, double ls) {
            new (self) CrossEntropyLoss(red(r), ii, ls, w_or(w));
          },
          nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100, nb::arg("reduction") = "mean",
          nb::arg("label_smoothing") = 0.0);
  nb::class_<NLLLoss, Loss>(nn, "NLLLoss")
      .def(
          "__init__",
          [red, w_or](NLLLoss* self, std::optional<Tensor> w, int64_t ii, std::string_view r) {
            new (self) NLLLoss(red(r), ii, w_or(w));
          },
          nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100, nb::arg("reduction") = "mean");
  nb::class_<MSELoss, Loss>(nn, "MSELoss")
      .def(
          "__init__", [red](MSELoss* self, std::string_view r) { new (self) MSELoss(red(r)); },
          nb::arg("reduction") = "mean");
  nb::class_<L1Loss, Loss>(nn, "L1Loss")
      .def(
          "__init__", [red](L1Loss* self, std::string_view r) { new (self) L1Loss(red(r)); },
          nb::arg("reduction") = "mean");
  nb::class_<SmoothL1Loss, Loss>(nn, "SmoothL1Loss")
      .def(
          "__init__", [red](SmoothL1Loss* self, std::string_view r, double b) { new (self) SmoothL1Loss(red(r), b); },
          nb::arg("reduction") = "mean", nb::arg("beta") = 1.0);
  nb::class_<HuberLoss, Loss>(nn, "HuberLoss")
      .def(
          "__init__", [red](HuberLoss* self, std::string_view r, double d) { new (self) HuberLoss(red(r), d); },
          nb::arg("reduction") = "mean", nb::arg("delta") = 1.0);
  nb::class_<BCEWithLogitsLoss, Loss>(nn, "BCEWithLogitsLoss")
      .def(
          "__init__",
          [red, w_or](BCEWithLogitsLoss* self, std::optional<Tensor> w, std::string_view r, std::optional<Tensor> pw) {
            new (self) BCEWithLogitsLoss(red(r), w_or(pw), w_or(w));
          },
          nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean", nb::arg("pos_weight") = nb::none());
  nb::class_<BCELoss, Loss>(nn, "BCELoss")
      .def(
          "__init__",
          [red, w_or](BCELoss* self, std::optional<Tensor> w, std::string_view r) {
            new (self) BCELoss(red(r), w_or(w));
          },
          nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean");
  nb::class_<KLDivLoss, Loss>(nn, "KLDivLoss")
      .def(
          "__init__",
          [red](KLDivLoss* self, std::string_view r, bool log_target) { new (self) KLDivLoss(red(r), log_target); },
          nb::arg("reduction") = "mean", nb::arg("log_target") = false);
}

void bind_transformer(nb::module_& nn) {
  Cls<MultiheadAttention>(nn, "MultiheadAttention")
      .def(nb::init<int64_t, int64_t, double, bool, bool, DType>(), nb::arg("embed_dim"), nb::arg("num_heads"),
           nb::arg("dropout") = 0.0, nb::arg("bias") = true, nb::arg("batch_first") = false,
           nb::arg("dtype") = DType::Float32)
      .def(
          "forward",
          [](MultiheadAttention& a, const Tensor& q, const Tensor& k, const Tensor& v, std::optional<Tensor> kpm,
             bool need_weights, std::optional<Tensor> mask, bool avg) {
            auto [out, w] = a.forward(q, k, v, kpm.value_or(Tensor{}), need_weights, mask.value_or(Tensor{}), avg);
            return std::make_pair(out, opt(w));
          },
          nb::arg("query"), nb::arg("key"), nb::arg("value"), nb::arg("key_padding_mask") = nb::none(),
          nb::arg("need_weights") = true, nb::arg("attn_mask") = nb::none(), nb::arg("average_attn_weights") = true,
          Release());
  Cls<TransformerEncoderLayer>(nn, "TransformerEncoderLayer")
      .def(nb::init<int64_t, int64_t, int64_t, double, std::string, double, bool, bool>(), nb::arg("d_model"),
           nb::arg("nhead"), nb::arg("dim_feedforward") = 2048, nb::arg("dropout") = 0.1,
           nb::arg("activation") = "relu", nb::arg("layer_norm_eps") = 1e-5, nb::arg("batch_first") = false,
           nb::arg("norm_first") = false)
      .def(
          "forward",
          [](TransformerEncoderLayer& l, const Tensor& src, std::optional<Tensor> mask, std::optional<Tensor> kpm) {
            return l.forward(src, mask.value_or(Tensor{}), kpm.value_or(Tensor{}));
          },
          nb::arg("src"), nb::arg("src_mask") = nb::none(), nb::arg("src_key_padding_mask") = nb::none(), Release());
}

void bind_init(nb::module_& nn) {
  nb::module_ init = nn.def_submodule("init", "Parameter initialisation (in place, without autograd).");
  init.def("calculate_gain", &init::calculate_gain, nb::arg("nonlinearity"), nb::arg("param") = nb::none());
  init.def(
      "uniform_", [](const Tensor& t, double a, double b) { return init::uniform_(t, a, b); }, nb::arg("tensor"),
      nb::arg("a") = 0.0, nb::arg("b") = 1.0);
  init.def(
      "normal_", [](const Tensor& t, double m, double s) { return init::normal_(t, m, s); }, nb::arg("tensor"),
      nb::arg("mean") = 0.0, nb::arg("std") = 1.0);
  init.def("constant_", &init::constant_, nb::arg("tensor"), nb::arg("val"));
  init.def("zeros_", &init::zeros_, nb::arg("tensor"));
  init.def("ones_", &init::ones_, nb::arg("tensor"));
  init.def(
      "kaiming_uniform_",
      [](const Tensor& t, double a, std::string_view mode, std::string_view nl) {
        return init::kaiming_uniform_(t, a, mode, nl);
      },
      nb::arg("tensor"), nb::arg("a") = 0.0, nb::arg("mode") = "fan_in", nb::arg("nonlinearity") = "leaky_relu");
  init.def(
      "kaiming_normal_",
      [](const Tensor& t, double a, std::string_view mode, std::string_view nl) {
        return init::kaiming_normal_(t, a, mode, nl);
      },
      nb::arg("tensor"), nb::arg("a") = 0.0, nb::arg("mode") = "fan_in", nb::arg("nonlinearity") = "leaky_relu");
  init.def(
      "xavier_uniform_", [](const Tensor& t, double g) { return init::xavier_uniform_(t, g); }, nb::arg("tensor"),
      nb::arg("gain") = 1.0);
  init.def(
      "xavier_normal_", [](const Tensor& t, double g) { return init::xavier_normal_(t, g); }, nb::arg("tensor"),
      nb::arg("gain") = 1.0);
}

// The functional forms composed in C++ (doppel.nn.functional re-exports them).
void bind_functional(nb::module_& m) {
  m.def(
      "pad",
      [](const Tensor& x, std::vector<int64_t> p, std::string_view mode, std::optional<double> value) {
        PadMode pm = PadMode::Constant;
        if (mode == "reflect")
          pm = PadMode::Reflect;
        else if (mode == "replicate")
          pm = PadMode::Replicate;
        else if (mode == "circular")
          pm = PadMode::Circular;
        else
          DOPPEL_CHECK(mode == "constant",
                       "pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got '{}'", mode);
        return pad(x, p, pm, value.value_or(0.0));
      },
      nb::arg("input"), nb::arg("pad"), nb::arg("mode") = "constant", nb::arg("value") = nb::none(), Release());
  auto opt = [](const std::optional<Tensor>& t) { return t.value_or(Tensor{}); };
  m.def(
      "instance_norm",
      [opt](const Tensor& x, std::optional<Tensor> rm, std::optional<Tensor> rv, std::optional<Tensor> w,
            std::optional<Tensor> b, bool use_input_stats, double momentum,
            double eps) { return instance_norm(x, opt(rm), opt(rv), opt(w), opt(b), use_input_stats, momentum, eps); },
      nb::arg("input"), nb::arg("running_mean") = nb::none(), nb::arg("running_var") = nb::none(),
      nb::arg("weight") = nb::none(), nb::arg("bias") = nb::none(), nb::arg("use_input_stats") = true,
      nb::arg("momentum") = 0.1, nb::arg("eps") = 1e-5, Release());
  m.def(
      "normalize", [](const Tensor& x, double p, int64_t dim, double eps) { return normalize(x, p, dim, eps); },
      nb::arg("input"), nb::arg("p") = 2.0, nb::arg("dim") = 1, nb::arg("eps") = 1e-12, Release());
}

}  // namespace

void bind_nn(nb::module_& m) {
  bind_functional(m);
  nb::module_ nn = m.def_submodule("nn", "The C++ nn modules.");
  bind_base(nn);
  bind_layers(nn);
  bind_activations(nn);
  bind_losses(nn);
  bind_transformer(nn);
  bind_init(nn);
}

}  // namespace doppel::py
