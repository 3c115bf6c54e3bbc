#pragma once
// The training step the graph tests compile and compare with eager: zero_grad, cross-entropy
// forward, backward, optimizer step; returns the loss. One definition, so every test traces
// the same sequence of ops.
#include <vector>

#include "doppel/graph/trace.h"
#include "doppel/nn/module.h"
#include "doppel/ops/loss.h"
#include "doppel/optim/optimizer.h"

namespace doppel::testing {

inline graph::TracedFunction cross_entropy_step(nn::Module& model, optim::Optimizer& opt) {
  return [&model, &opt](const std::vector<Tensor>& in) {
    opt.zero_grad();
    Tensor loss = cross_entropy(model.forward(in[0]), in[1]);
    loss.backward();
    opt.step();
    return std::vector<Tensor>{loss};
  };
}

}  // namespace doppel::testing
