#pragma once
// The Summary protos SummaryWriter writes, one builder per kind (each in its own file), as
// PyTorch 1.13's torch.utils.tensorboard.summary builds them.
#include <map>
#include <string>
#include <vector>

#include "doppel/tensorboard/summary_writer.h"
#include "tensorboard/compat/proto/graph.pb.h"
#include "tensorboard/compat/proto/summary.pb.h"

// The generated classes (package tensorboard), apart from doppel::tensorboard.
namespace tbp = ::tensorboard;

namespace doppel::tensorboard::detail {

// scalar.cpp
tbp::Summary scalar_summary(const std::string& tag, double value, bool new_style, bool double_precision);
// histogram.cpp
tbp::Summary histogram_summary(const std::string& tag, const Tensor& values, const Bins& bins,
                               std::optional<int64_t> max_bins);
// image.cpp; `what` names the calling method in errors.
tbp::Summary image_summary(const std::string& tag, const Tensor& img, const std::string& dataformats, const char* what);
// text.cpp
tbp::Summary text_summary(const std::string& tag, const std::string& text);
// hparams.cpp: the experiment, session start and session end summaries, in that order.
std::vector<tbp::Summary> hparams_summaries(
    const HParams& hparams, const Scalars& metrics,
    const std::map<std::string, std::vector<HParamValue>>& hparam_domain_discrete);
// graph_def.cpp
tbp::GraphDef graph_def(const graph::Graph& g);

}  // namespace doppel::tensorboard::detail
