// callbacks::TensorBoardLogger: the event files a fit writes, parsed record by record with
// TensorBoard's own protos (the classes generated from the tensorboard package): scalars per epoch
// equal history(), *_step values and the learning rate at the global step, one graph, the hparams
// session; the folder versions; an eager fit's numbers unchanged by the logger's trace.
#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "doppel/data/dataloader.h"
#include "doppel/doppel.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "doppel/trainer/lr_monitor.h"
#include "doppel/trainer/tensorboard_logger.h"
#include "doppel/trainer/trainer.h"
#include "support/event_records.h"
#include "support/temp_dir.h"
#include "tensorboard/compat/proto/event.pb.h"
#include "tensorboard/compat/proto/graph.pb.h"
#include "tensorboard/plugins/hparams/plugin_data.pb.h"

namespace doppel::testing {
namespace {

namespace fs = std::filesystem;
using callbacks::TensorBoardLogger;
using callbacks::TensorBoardLoggerOptions;

// What a run folder's event files hold: scalars by tag as (step, value), graphs, hparams records.
struct RunEvents {
  std::map<std::string, std::vector<std::pair<int64_t, float>>> scalars;
  std::vector<::tensorboard::GraphDef> graphs;
  std::map<std::string, ::tensorboard::hparams::HParamsPluginData> hparams;  // by tag
  size_t files = 0;
};

RunEvents read_run(const fs::path& dir) {
  RunEvents r;
  for (const fs::path& f : event_files(dir)) {
    ++r.files;
    const std::vector<std::string> payloads = records(read_file(f));
    REQUIRE(!payloads.empty());
    for (size_t i = 0; i < payloads.size(); ++i) {
      ::tensorboard::Event e;
      REQUIRE(e.ParseFromString(payloads[i]));
      if (i == 0) CHECK(e.file_version() == "brain.Event:2");
      if (e.has_graph_def()) {
        REQUIRE(r.graphs.emplace_back().ParseFromString(e.graph_def()));
      }
      for (const auto& v : e.summary().value()) {
        if (v.metadata().plugin_data().plugin_name() == "hparams") {
          REQUIRE(r.hparams[v.tag()].ParseFromString(v.metadata().plugin_data().content()));
        } else {
          REQUIRE(v.value_case() == ::tensorboard::Summary::Value::kSimpleValue);
          r.scalars[v.tag()].emplace_back(e.step(), v.simple_value());
        }
      }
    }
  }
  return r;
}

// 48 samples of 4 features; the class is the largest of the first three (learnable by a linear map).
std::shared_ptr<data::TensorDataset> three_classes(uint64_t seed) {
  Generator g(seed);
  const Tensor x = randn({48, 4}, {}, &g);
  return std::make_shared<data::TensorDataset>(x, argmax(x.narrow(1, 0, 3), 1));
}

TEST_CASE("TensorBoardLogger: a fit's events read back: epoch scalars equal history(), steps, lr, graph, hparams",
          "[trainer][tensorboard]") {
  for (const bool compiled : {true, false}) {
    INFO("compile " << compiled);
    TempDir d("doppel_tblog");
    const auto ds = three_classes(1);
    manual_seed(3);
    auto model = std::make_shared<nn::Linear>(4, 3);
    auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.2});
    auto logger = std::make_shared<TensorBoardLogger>(
        TensorBoardLoggerOptions{.save_dir = d.path.string(), .name = "exp", .hparams = {{"batch", 8.0}, {"lr", 0.5}}});
    data::DataLoader loader(ds, {.batch_size = 8});  // 6 batches per epoch
    Trainer trainer({.optimizer = opt,
                     .scheduler = std::make_shared<optim::StepLR>(*opt, 4, 0.5),
                     .scheduler_interval = Interval::Step,
                     .metrics = {std::make_shared<metrics::Accuracy>()},
                     .callbacks = {logger, std::make_shared<callbacks::LearningRateMonitor>(Interval::Step)},
                     .compile = compiled});
    trainer.fit(*model, loader, &loader, 3);
    const fs::path run = d.path / "exp" / "version_0";
    CHECK(logger->log_dir() == run.string());
    const RunEvents ev = read_run(run);
    CHECK(ev.files == 2);  // the scalars' and graph's file, and the hparams session's

    // Epoch-level values at step = epoch, equal to history() (as float32, simple_value's type).
    REQUIRE(trainer.history().size() == 3);
    for (const char* tag : {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}) {
      INFO(tag);
      REQUIRE(ev.scalars.count(tag) == 1);
      const auto& series = ev.scalars.at(tag);
      REQUIRE(series.size() == 3);
      for (int64_t e = 0; e < 3; ++e) {
        CHECK(series[size_t(e)].first == e);
        CHECK(series[size_t(e)].second == float(trainer.history()[size_t(e)].at(tag)));
      }
    }
    // Per optimizer step: the running loss at global steps 1..18; the lr before each step
    // (steps 0..17), StepLR halving it every 4 steps; "epoch" at the step each epoch ended on.
    const auto& loss_steps = ev.scalars.at("train_loss_step");
    REQUIRE(loss_steps.size() == 18);
    for (size_t k = 0; k < 18; ++k) CHECK(loss_steps[k].first == int64_t(k) + 1);
    CHECK(loss_steps[5].second == float(trainer.history()[0].at("train_loss")));  // the epoch's mean at its end
    const auto& lrs = ev.scalars.at("lr-SGD");
    REQUIRE(lrs.size() == 18);
    for (size_t k = 0; k < 18; ++k) {
      CHECK(lrs[k].first == int64_t(k));
      CHECK(lrs[k].second == float(0.2 * std::pow(0.5, double(k / 4))));
    }
    CHECK(ev.scalars.at("epoch") == std::vector<std::pair<int64_t, float>>{{6, 0.f}, {12, 1.f}, {18, 2.f}});

    // One graph, its state named by the model's parameters; with compile the training step's
    // (forward, backward, update: more ops than the forward's matmul and add).
    REQUIRE(ev.graphs.size() == 1);
    std::map<std::string, std::string> ops;  // node name -> op
    for (const auto& n : ev.graphs[0].node()) ops[n.name()] = n.op();
    CHECK(ops["weight"] == "Parameter");
    CHECK(ops["bias"] == "Parameter");
    CHECK(ops.count("input/in0") == 1);
    const size_t op_nodes = std::count_if(ops.begin(), ops.end(), [](const auto& kv) {
      return kv.second != "Parameter" && kv.second != "IO Node" && kv.second != "Constant";
    });
    if (compiled)
      CHECK(op_nodes > 6);
    else
      CHECK(op_nodes <= 3);

    // The hparams session: the Trainer's options and the user's (the user's lr wins), the last
    // epoch's values as the metrics "hparams/<name>".
    REQUIRE(ev.hparams.size() == 3);
    const auto& start = ev.hparams.at("_hparams_/session_start_info").session_start_info().hparams();
    CHECK(start.at("optimizer").string_value() == "SGD");
    CHECK(start.at("scheduler").string_value() == "StepLR");
    CHECK(start.at("compile").bool_value() == compiled);
    CHECK(start.at("precision").string_value() == "32");
    CHECK(start.at("batch").number_value() == 8.0);
    CHECK(start.at("lr").number_value() == 0.5);
    std::vector<std::string> metric_tags;
    for (const auto& m : ev.hparams.at("_hparams_/experiment").experiment().metric_infos())
      metric_tags.push_back(m.name().tag());
    CHECK(metric_tags == std::vector<std::string>{"hparams/train_accuracy", "hparams/train_loss",
                                                  "hparams/val_accuracy", "hparams/val_loss"});
    CHECK(ev.hparams.at("_hparams_/session_end_info").session_end_info().status() ==
          ::tensorboard::hparams::STATUS_SUCCESS);
    CHECK(ev.scalars.at("hparams/val_loss").at(0).second == float(trainer.history()[2].at("val_loss")));

    // test() after fit: written (and flushed) at the global step.
    const Metrics t = trainer.test(*model, loader);
    CHECK(read_run(run).scalars.at("test_accuracy") ==
          std::vector<std::pair<int64_t, float>>{{18, float(t.at("test_accuracy"))}});

    // The next logger in that folder takes the next version.
    TensorBoardLogger next({.save_dir = d.path.string(), .name = "exp"});
    CHECK(next.version() == 1);
    CHECK(TensorBoardLogger({.save_dir = d.path.string(), .name = "", .version = 7}).log_dir() ==
          (d.path / "version_7").string());
  }
}

TEST_CASE("TensorBoardLogger: tracing an eager fit's forward for the graph leaves its numbers unchanged",
          "[trainer][tensorboard]") {
  TempDir d("doppel_tblog");
  const auto ds = three_classes(2);
  auto run = [&](bool with_logger) {
    manual_seed(5);
    auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Linear>(4, 5), std::make_shared<nn::BatchNorm1d>(5), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Dropout>(0.5), std::make_shared<nn::Linear>(5, 3)});
    auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.1});
    std::vector<std::shared_ptr<Callback>> cbs;
    if (with_logger)
      cbs.push_back(std::make_shared<TensorBoardLogger>(TensorBoardLoggerOptions{.save_dir = d.path.string()}));
    data::DataLoader loader(ds, {.batch_size = 8, .shuffle = true, .seed = 1});
    Trainer({.optimizer = opt, .callbacks = cbs, .compile = false}).fit(*model, loader, nullptr, 2);
    return model->state_dict();
  };
  const StateDict plain = run(false), logged = run(true);
  REQUIRE(plain.size() == logged.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    INFO(plain[i].first);
    const Tensor a = plain[i].second.contiguous(), b = logged[i].second.contiguous();
    REQUIRE(a.nbytes() == b.nbytes());
    CHECK(std::memcmp(a.raw_data(), b.raw_data(), size_t(a.nbytes())) == 0);
  }
  // The graph is the forward in eval mode: the batch norm reads its running statistics.
  const RunEvents ev = read_run(d.path / "lightning_logs" / "version_0");
  REQUIRE(ev.graphs.size() == 1);
  bool dropout = false, running_mean = false;
  for (const auto& n : ev.graphs[0].node()) {
    dropout |= n.op().find("dropout") != std::string::npos;
    running_mean |= n.name() == "1/running_mean";
  }
  CHECK_FALSE(dropout);
  CHECK(running_mean);
}

}  // namespace
}  // namespace doppel::testing
