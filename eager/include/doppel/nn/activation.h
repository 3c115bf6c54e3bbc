#pragma once
// Activation modules over the elementwise ops (torch.nn names and defaults).
#include <string>

#include "doppel/nn/module.h"

namespace doppel::nn {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

// approximate: "none" (exact, erf) or "tanh".
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override;
  std::string approximate;

 protected:
  std::string extra_repr() const override;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
};

class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : Module("LeakyReLU"), negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  double negative_slope;

 protected:
  std::string extra_repr() const override;
};

class ELU : public Module {
 public:
  explicit ELU(double alpha = 1.0) : Module("ELU"), alpha(alpha) {}
  Tensor forward(const Tensor& x) override;
  double alpha;

 protected:
  std::string extra_repr() const override;
};

class Softplus : public Module {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0)
      : Module("Softplus"), beta(beta), threshold(threshold) {}
  Tensor forward(const Tensor& x) override;
  double beta, threshold;

 protected:
  std::string extra_repr() const override;
};

class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim) : Module("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  int64_t dim;

 protected:
  std::string extra_repr() const override;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim) : Module("LogSoftmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  int64_t dim;

 protected:
  std::string extra_repr() const override;
};

// clamp(x, min_val, max_val); inplace: forward writes into x (hardtanh_) and returns it.
class Hardtanh : public Module {
 public:
  explicit Hardtanh(double min_val = -1.0, double max_val = 1.0, bool inplace = false)
      : Hardtanh("Hardtanh", min_val, max_val, inplace) {}
  Tensor forward(const Tensor& x) override;
  double min_val, max_val;
  bool inplace;

 protected:
  Hardtanh(const char* name, double min_val, double max_val, bool inplace)
      : Module(name), min_val(min_val), max_val(max_val), inplace(inplace) {}
  std::string extra_repr() const override;
};

// Hardtanh(0, 6).
class ReLU6 : public Hardtanh {
 public:
  explicit ReLU6(bool inplace = false) : Hardtanh("ReLU6", 0.0, 6.0, inplace) {}

 protected:
  std::string extra_repr() const override;
};

// A parameterless activation computed by `fn`, or in place by `fn_` when inplace is true.
class InplaceActivation : public Module {
 public:
  using Fn = Tensor (*)(const Tensor&, SourceLoc);
  using InplaceFn = const Tensor& (*)(const Tensor&, SourceLoc);
  Tensor forward(const Tensor& x) override;
  bool inplace;

 protected:
  InplaceActivation(const char* name, bool inplace, Fn fn, InplaceFn fn_)
      : Module(name), inplace(inplace), fn_(fn), inplace_fn_(fn_) {}
  std::string extra_repr() const override;

 private:
  Fn fn_;
  InplaceFn inplace_fn_;
};

class Hardswish : public InplaceActivation {
 public:
  explicit Hardswish(bool inplace = false);
};
class Hardsigmoid : public InplaceActivation {
 public:
  explicit Hardsigmoid(bool inplace = false);
};
class Mish : public InplaceActivation {
 public:
  explicit Mish(bool inplace = false);
};
class SELU : public InplaceActivation {
 public:
  explicit SELU(bool inplace = false);
};

class LogSigmoid : public Module {
 public:
  LogSigmoid() : Module("LogSigmoid") {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace doppel::nn
