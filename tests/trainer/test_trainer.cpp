// doppel::Trainer: the same result as the hand-written loop, bit-identical resume, gradient
// accumulation, clipping, bf16 autocast, early stopping and best-k checkpoints, compiled and eager.
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "doppel/data/dataloader.h"
#include "doppel/data/fashion_mnist.h"
#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "doppel/trainer/early_stopping.h"
#include "doppel/trainer/lr_monitor.h"
#include "doppel/trainer/model_checkpoint.h"
#include "doppel/trainer/progress_bar.h"
#include "doppel/trainer/trainer.h"
#include "fashion_mnist_cnn.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

namespace fs = std::filesystem;
using callbacks::EarlyStopping;
using callbacks::ModelCheckpoint;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("doppel_trainer_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// The first n images of a Fashion-MNIST split (shared views, decoded once).
std::shared_ptr<data::TensorDataset> fashion_subset(bool train, int64_t n) {
  static const data::FashionMNIST train_set(std::string(data::kFashionMNISTRoot), true);
  static const data::FashionMNIST test_set(std::string(data::kFashionMNISTRoot), false);
  const data::FashionMNIST& s = train ? train_set : test_set;
  return std::make_shared<data::TensorDataset>(s.images().narrow(0, 0, n), s.labels().narrow(0, 0, n));
}

data::DataLoaderOptions fashion_train_options(int64_t batch, uint64_t seed) {
  return {.batch_size = batch,
          .shuffle = true,
          .seed = seed,
          .transform = data::Compose({data::RandomHorizontalFlip(0.5), data::Normalize({0.2860}, {0.3530})})};
}

// Every parameter and buffer of `a` and `b` equal bit for bit.
bool same_state(const nn::Module& a, const nn::Module& b) {
  const StateDict sa = a.state_dict(), sb = b.state_dict();
  if (sa.size() != sb.size()) return false;
  for (size_t i = 0; i < sa.size(); ++i) {
    const Tensor x = sa[i].second.contiguous(), y = sb[i].second.contiguous();
    if (x.shape() != y.shape() || x.dtype() != y.dtype() ||
        std::memcmp(x.raw_data(), y.raw_data(), size_t(x.nbytes())) != 0) {
      INFO("differs: " << sa[i].first);
      return false;
    }
  }
  return true;
}

TEST_CASE("Trainer: the Fashion-MNIST CNN trains exactly as the hand-written loop (compiled and eager)", "[trainer]") {
  const auto train_set = fashion_subset(true, 384);
  const auto test_set = fashion_subset(false, 500);
  data::DataLoader test_loader(test_set, {.batch_size = 250, .transform = data::Normalize({0.2860}, {0.3530})});
  const int64_t epochs = 2, steps = epochs * 6;

  // The hand loop of examples/fashion_mnist.cpp: Adam, cosine schedule stepped per batch.
  manual_seed(7);
  auto hand = examples::make_fashion_mnist_cnn();
  {
    optim::Adam opt(hand->parameters(), {.lr = 2e-3});
    optim::CosineAnnealingLR schedule(opt, steps);
    data::DataLoader loader(train_set, fashion_train_options(64, 7));
    for (int64_t e = 0; e < epochs; ++e)
      for (const data::Batch& b : loader) {
        Tensor loss = cross_entropy((*hand)(b.data), b.target);
        opt.zero_grad();
        loss.backward();
        opt.step();
        schedule.step();
      }
  }
  hand->eval();
  int64_t correct = 0;
  {
    NoGradGuard no_grad;
    for (const data::Batch& b : test_loader) correct += sum(eq(argmax((*hand)(b.data), 1), b.target)).item<int64_t>();
  }
  const double hand_acc = double(correct) / 500.0;
  CHECK(hand_acc > 0.5);  // it learned something in 12 steps

  for (const bool compiled : {true, false}) {
    INFO("compile " << compiled);
    seed_everything(7);
    auto model = examples::make_fashion_mnist_cnn();
    auto opt = std::make_shared<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 2e-3});
    Trainer trainer({.optimizer = opt,
                     .scheduler = std::make_shared<optim::CosineAnnealingLR>(*opt, steps),
                     .scheduler_interval = Interval::Step,
                     .metrics = {std::make_shared<metrics::Accuracy>(), std::make_shared<metrics::TopKAccuracy>(3)},
                     .compile = compiled});
    data::DataLoader loader(train_set, fashion_train_options(64, 7));
    trainer.fit(*model, loader, &test_loader, epochs);
    CHECK(same_state(*model, *hand));
    if (compiled) CHECK(trainer.compiled_training_step()->num_graph_runs() == steps - 2);
    const Metrics test = trainer.test(*model, test_loader);
    CHECK(test.at("test_accuracy") == hand_acc);
    CHECK(test.at("test_top3_accuracy") >= test.at("test_accuracy"));
    REQUIRE(trainer.history().size() == 2);
    CHECK(trainer.history()[1].at("val_accuracy") == hand_acc);
    CHECK(trainer.global_step() == steps);
    CHECK(trainer.history()[1].at("train_loss") < trainer.history()[0].at("train_loss"));
  }
}

// A checkpoint written at on_train_batch_end of (epoch, batch), then a stop.
struct StopAt : Callback {
  int64_t epoch, batch;
  std::string path;
  StopAt(int64_t e, int64_t b, std::string p) : epoch(e), batch(b), path(std::move(p)) {}
  void on_train_batch_end(Trainer& t, const data::Batch&, int64_t index) override {
    if (t.current_epoch() == epoch && index == batch) {
      t.save_checkpoint(path);
      t.should_stop = true;
    }
  }
};

TEST_CASE("Trainer: a fit resumed from a checkpoint ends bit-identical to an uninterrupted one", "[trainer]") {
  const auto train_set = fashion_subset(true, 192);  // 6 batches of 32: 3 optimizer steps per epoch
  const fs::path dir = fresh_dir("resume");
  // compiled with graph passes, compiled without, eager
  for (const auto& [compiled, passes] : {std::pair{true, true}, std::pair{true, false}, std::pair{false, false}}) {
    INFO("compile " << compiled << " passes " << passes);
    // A new process: another initialization, then everything comes from the checkpoint.
    auto make = [&](uint64_t init_seed) {
      seed_everything(init_seed);
      auto model = examples::make_fashion_mnist_cnn();
      auto opt = std::make_shared<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 1e-3});
      auto sched = std::make_shared<optim::StepLR>(*opt, 1, 0.5);
      return std::make_tuple(model, opt, sched);
    };
    auto options = [&](auto opt, auto sched, std::vector<std::shared_ptr<Callback>> cbs) {
      return TrainerOptions{.optimizer = opt,
                            .scheduler = sched,
                            .metrics = {std::make_shared<metrics::Accuracy>()},
                            .callbacks = std::move(cbs),
                            .compile = compiled,
                            .graph_passes = passes,
                            .accumulate_grad_batches = 2};
    };
    auto [full, full_opt, full_sched] = make(3);
    {
      data::DataLoader loader(train_set, fashion_train_options(32, 5));
      Trainer(options(full_opt, full_sched, {})).fit(*full, loader, nullptr, 3);
    }
    // Stopped after epoch 1 (ModelCheckpoint's last.ckpt), resumed for epoch 2.
    {
      auto [m, o, s] = make(3);
      auto ckpt = std::make_shared<ModelCheckpoint>(
          callbacks::ModelCheckpointOptions{.dirpath = dir.string(), .save_top_k = 0, .save_last = true});
      data::DataLoader loader(train_set, fashion_train_options(32, 5));
      Trainer(options(o, s, {ckpt})).fit(*m, loader, nullptr, 2);
      CHECK_FALSE(same_state(*m, *full));
    }
    {
      auto [m, o, s] = make(99);
      data::DataLoader loader(train_set, fashion_train_options(32, 5));
      Trainer t(options(o, s, {}));
      t.fit(*m, loader, nullptr, 3, (dir / "last.ckpt").string());
      CHECK(same_state(*m, *full));
      CHECK(t.global_step() == 3 * 3);
      CHECK(o->lr() == full_opt->lr());
    }
    // Stopped inside epoch 1 after batch 3 (the end of an accumulation window), resumed.
    {
      auto [m, o, s] = make(3);
      data::DataLoader loader(train_set, fashion_train_options(32, 5));
      Trainer(options(o, s, {std::make_shared<StopAt>(1, 3, (dir / "mid.ckpt").string())})).fit(*m, loader, nullptr, 3);
      auto [m2, o2, s2] = make(42);
      data::DataLoader loader2(train_set, fashion_train_options(32, 5));
      Trainer(options(o2, s2, {})).fit(*m2, loader2, nullptr, 3, (dir / "mid.ckpt").string());
      CHECK(same_state(*m2, *full));
    }
  }
}

// y = argmax over 3 classes of a fixed linear map of x: learnable by a linear model.
std::shared_ptr<data::TensorDataset> synthetic(int64_t n, uint64_t seed) {
  Generator g(seed);
  const Tensor x = randn({n, 4}, {}, &g);
  const Tensor w = tensor(std::vector<float>{1, -1, 0, 0.5f, 0, 1, -1, 0, -0.5f, 0, 1, 1}, {4, 3});
  return std::make_shared<data::TensorDataset>(x, argmax(matmul(x, w), 1));
}

TEST_CASE("Trainer: accumulating 2 batches of 8 equals one step on 16 (compiled and eager)", "[trainer]") {
  const auto ds = synthetic(64, 1);
  std::map<bool, std::vector<Tensor>> results;
  for (const bool compiled : {true, false}) {
    std::vector<std::vector<Tensor>> params;
    for (const int64_t accumulate : {1, 2}) {
      manual_seed(11);
      auto model = std::make_shared<nn::Linear>(4, 3);
      auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.5, .momentum = 0.9});
      data::DataLoader loader(ds, {.batch_size = 16 / accumulate});
      Trainer t({.optimizer = opt, .compile = compiled, .accumulate_grad_batches = accumulate});
      t.fit(*model, loader, nullptr, 2);
      if (compiled) CHECK(t.compiled_training_step()->num_graph_runs() > 0);
      params.push_back(model->parameters());
    }
    for (size_t i = 0; i < params[0].size(); ++i) {
      INFO("compile " << compiled << " parameter " << i);
      CHECK_FALSE(compare(params[1][i], params[0][i], {1e-5, 1e-6}).has_value());
    }
  }
}

// Checks every optimizer step's update: lr * clipped gradient, so |elements| <= 1 (value) or
// total norm == 1 (norm; the gradients here are far above the 0.01 bound).
struct ClipProbe : Callback {
  ClipAlgorithm algo;
  std::vector<Tensor> before;
  int64_t checked = 0;
  explicit ClipProbe(ClipAlgorithm a) : algo(a) {}
  void on_train_batch_start(Trainer& t, const data::Batch&, int64_t) override {
    before.clear();
    for (const Tensor& p : t.optimizer().parameters()) before.push_back(p.clone());
  }
  void on_train_batch_end(Trainer& t, const data::Batch&, int64_t) override {
    double sq = 0, largest = 0;
    const std::vector<Tensor> ps = t.optimizer().parameters();
    for (size_t k = 0; k < ps.size(); ++k) {
      const Tensor d = sub(ps[k], before[k]);
      sq += sum(mul(d, d)).item<double>();
      largest = std::max(largest, double(max(abs(d)).item<float>()));
    }
    if (algo == ClipAlgorithm::Value) {
      CHECK(largest <= 1.0 + 1e-5);
      CHECK(largest >= 1.0 - 1e-5);  // something was clipped
    } else {
      CHECK(std::abs(std::sqrt(sq) - 1.0) < 1e-3);
    }
    ++checked;
  }
};

TEST_CASE("Trainer: gradient clipping by value and by norm bounds every SGD update", "[trainer]") {
  const auto ds = synthetic(64, 2);
  for (const bool compiled : {true, false})
    for (const ClipAlgorithm algo : {ClipAlgorithm::Value, ClipAlgorithm::Norm}) {
      INFO("compile " << compiled << " norm " << (algo == ClipAlgorithm::Norm));
      manual_seed(3);
      auto model = std::make_shared<nn::Linear>(4, 3);
      auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 100.0});
      auto probe = std::make_shared<ClipProbe>(algo);
      data::DataLoader loader(ds, {.batch_size = 16});
      Trainer t({.optimizer = opt,
                 .callbacks = {probe},
                 .compile = compiled,
                 .gradient_clip_val = 0.01,
                 .gradient_clip_algorithm = algo});
      t.fit(*model, loader, nullptr, 2);
      CHECK(probe->checked == 8);
      CHECK((t.compiled_training_step() != nullptr) == compiled);
      if (compiled) CHECK(t.compiled_training_step()->num_graph_runs() == 6);  // after warm-up and trace
    }
}

// Records the dtype of the outputs the metric sees.
struct DTypeProbe : metrics::Accuracy {
  std::shared_ptr<std::vector<DType>> seen = std::make_shared<std::vector<DType>>();
  void update(const Tensor& output, const Tensor& target) override {
    seen->push_back(output.dtype());
    Accuracy::update(output, target);
  }
  std::shared_ptr<metrics::Metric> clone() const override { return std::make_shared<DTypeProbe>(*this); }
};

TEST_CASE("Trainer: bf16-mixed runs the linear layers in bfloat16 and keeps float32 parameters", "[trainer]") {
  const auto ds = synthetic(256, 4);
  for (const bool compiled : {true, false}) {
    INFO("compile " << compiled);
    manual_seed(5);
    auto model = std::make_shared<nn::Linear>(4, 3);
    auto opt = std::make_shared<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 0.05});
    auto probe = std::make_shared<DTypeProbe>();
    data::DataLoader loader(ds, {.batch_size = 32, .shuffle = true, .seed = 1});
    Trainer trainer({.optimizer = opt, .metrics = {probe}, .compile = compiled, .precision = Precision::BF16Mixed});
    trainer.fit(*model, loader, &loader, 4);
    if (compiled) CHECK(trainer.compiled_training_step()->num_graph_runs() > 0);
    CHECK(model->parameter("weight").dtype() == DType::Float32);
    REQUIRE_FALSE(probe->seen->empty());
    for (const DType d : *probe->seen) CHECK(d == DType::BFloat16);
    CHECK(trainer.history().back().at("val_accuracy") > 0.85);
    CHECK(trainer.predict(*model, loader)[0].dtype() == DType::BFloat16);
  }
}

// Logs a scripted value "score" at the end of each epoch.
struct Script : Callback {
  std::vector<double> values;
  explicit Script(std::vector<double> v) : values(std::move(v)) {}
  void on_train_epoch_end(Trainer& t) override { t.log({{"score", values[size_t(t.current_epoch())]}}); }
};

TEST_CASE("EarlyStopping and ModelCheckpoint on a scripted metric: which epochs are kept, when it stops", "[trainer]") {
  const auto ds = synthetic(32, 6);
  const fs::path dir = fresh_dir("topk");
  //                    epoch: 0  1  2  3  4    5    6  7  8
  auto script = std::make_shared<Script>(std::vector<double>{5, 3, 4, 2, 2.5, 2.2, 6, 1, 0});
  auto stop = std::make_shared<EarlyStopping>(callbacks::EarlyStoppingOptions{.monitor = "score", .patience = 3});
  auto ckpt = std::make_shared<ModelCheckpoint>(callbacks::ModelCheckpointOptions{
      .dirpath = dir.string(), .filename = "e{epoch}-{score}", .monitor = "score", .save_top_k = 2, .save_last = true});
  manual_seed(0);
  auto model = std::make_shared<nn::Linear>(4, 3);
  auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.1});
  data::DataLoader loader(ds, {.batch_size = 16});
  // The checkpoint callback comes first here; the Trainer runs it last anyway.
  Trainer trainer({.optimizer = opt, .callbacks = {ckpt, script, stop}, .compile = false});
  trainer.fit(*model, loader, nullptr, 9);
  // Best 2.0 at epoch 3; 2.5, 2.2, 6 do not improve: the third miss stops after epoch 6.
  CHECK(stop->stopped_epoch() == 6);
  CHECK(stop->best_score() == 2.0);
  CHECK(trainer.history().size() == 7);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"e3-2.0000.ckpt", "e5-2.2000.ckpt", "last.ckpt"});
  REQUIRE(ckpt->best_k_models().size() == 2);
  CHECK(ckpt->best_model_path() == (dir / "e3-2.0000.ckpt").string());
  CHECK(ckpt->best_model_score() == 2.0);
  // A kept file is a full checkpoint holding the model of its epoch and the kept list.
  const io::Checkpoint best = io::load_checkpoint(ckpt->best_model_path());
  CHECK(state_find(best.part("trainer"), "epoch").item<int64_t>() == 4);
  CHECK(best.metadata.at("ModelCheckpoint.score.best_k").find("e3-2.0000.ckpt") != std::string::npos);

  // Resumed from the epoch-3 file, EarlyStopping's state continues: it stops after epoch 6 again.
  // A ModelCheckpoint resumed from it continues from the list kept then (e1's file, deleted later
  // in the first fit, drops out without an error).
  auto stop2 = std::make_shared<EarlyStopping>(callbacks::EarlyStoppingOptions{.monitor = "score", .patience = 3});
  auto ckpt2 = std::make_shared<ModelCheckpoint>(callbacks::ModelCheckpointOptions{
      .dirpath = (dir / "again").string(), .filename = "e{epoch}-{score}", .monitor = "score", .save_top_k = 2});
  Trainer again({.optimizer = opt, .callbacks = {script, stop2, ckpt2}, .compile = false});
  again.fit(*model, loader, nullptr, 9, ckpt->best_model_path());
  CHECK(stop2->stopped_epoch() == 6);
  CHECK(again.history().size() == 3);  // epochs 4, 5, 6
  REQUIRE(ckpt2->best_k_models().size() == 2);
  CHECK(ckpt2->best_k_models()[0].first == (dir / "e3-2.0000.ckpt").string());
  CHECK(ckpt2->best_k_models()[1].first == (dir / "again" / "e5-2.2000.ckpt").string());
}

TEST_CASE("EarlyStopping and ModelCheckpoint on val_loss of a learnable problem; monitor errors", "[trainer]") {
  const fs::path dir = fresh_dir("valloss");
  const auto train = synthetic(128, 7), val = synthetic(64, 8);
  manual_seed(1);
  auto model = std::make_shared<nn::Linear>(4, 3);
  auto opt = std::make_shared<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 0.1});
  auto ckpt = std::make_shared<ModelCheckpoint>(callbacks::ModelCheckpointOptions{
      .dirpath = dir.string(), .monitor = "val_accuracy", .mode = callbacks::Mode::Max, .save_top_k = 3});
  auto stop = std::make_shared<EarlyStopping>(
      callbacks::EarlyStoppingOptions{.monitor = "val_loss", .min_delta = 1e-3, .patience = 2});
  auto lr = std::make_shared<callbacks::LearningRateMonitor>();
  data::DataLoader train_loader(train, {.batch_size = 32, .shuffle = true}), val_loader(val, {.batch_size = 64});
  Trainer trainer({.optimizer = opt,
                   .scheduler = std::make_shared<optim::StepLR>(*opt, 2, 0.5),
                   .metrics = {std::make_shared<metrics::Accuracy>()},
                   .callbacks = {ckpt, stop, lr}});
  trainer.fit(*model, train_loader, &val_loader, 30);
  const auto& h = trainer.history();
  REQUIRE(h.size() >= 3);
  // The kept files are the 3 best epochs by val_accuracy (ties: the earlier epoch stays).
  std::vector<std::pair<double, int64_t>> ranked;
  for (const Metrics& m : h) ranked.emplace_back(-m.at("val_accuracy"), int64_t(m.at("epoch")));
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  REQUIRE(ckpt->best_k_models().size() == 3);
  for (size_t k = 0; k < 3; ++k) {
    CHECK(ckpt->best_k_models()[k].second == -ranked[k].first);
    CHECK(fs::exists(ckpt->best_k_models()[k].first));
  }
  // Stopped: the last 2 epochs did not improve val_loss by 1e-3 on the best before them.
  if (int64_t(h.size()) < 30) {
    double best = INFINITY;
    for (size_t e = 0; e + 2 < h.size(); ++e) best = std::min(best, h[e].at("val_loss"));
    CHECK(h[h.size() - 2].at("val_loss") >= best - 1e-3);
    CHECK(h.back().at("val_loss") >= best - 1e-3);
  }
  CHECK(trainer.callback_metrics().at("lr-Adam") == 0.1 * std::pow(0.5, double((h.size() - 1) / 2)));

  // A monitor that is never logged names what was.
  auto bad = std::make_shared<EarlyStopping>(callbacks::EarlyStoppingOptions{.monitor = "val_acc"});
  Trainer wrong({.optimizer = opt, .callbacks = {bad}});
  const std::string msg = error_message<ValueError>([&] { wrong.fit(*model, train_loader, &val_loader, 1); });
  CHECK(msg.find("'val_acc' was not logged") != std::string::npos);
  CHECK(msg.find("val_loss") != std::string::npos);
  CHECK(error_message<ValueError>([&] {
          Trainer({.optimizer = opt, .accumulate_grad_batches = 0});
        }).find("accumulate_grad_batches") != std::string::npos);
}

}  // namespace
}  // namespace doppel::testing

namespace doppel::testing {
namespace {

// Every on_log call: (step, values).
struct LogRecorder : Callback {
  std::vector<std::pair<int64_t, Metrics>> logs;
  void on_log(Trainer&, const Metrics& values, int64_t step) override { logs.emplace_back(step, values); }
};

TEST_CASE("Trainer callbacks: on_log per step and epoch, LearningRateMonitor per step, ProgressBar lines",
          "[trainer]") {
  const auto ds = synthetic(48, 9);
  manual_seed(2);
  auto model = std::make_shared<nn::Linear>(4, 3);
  auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.1});
  auto rec = std::make_shared<LogRecorder>();
  std::FILE* out = std::tmpfile();
  data::DataLoader loader(ds, {.batch_size = 16});
  Trainer trainer({.optimizer = opt,
                   .scheduler = std::make_shared<optim::StepLR>(*opt, 2, 0.5),
                   .scheduler_interval = Interval::Step,
                   .metrics = {std::make_shared<metrics::Accuracy>()},
                   .callbacks = {rec, std::make_shared<callbacks::LearningRateMonitor>(Interval::Step),
                                 std::make_shared<callbacks::ProgressBar>(out)},
                   .log_every_n_steps = 3});
  trainer.fit(*model, loader, &loader, 2);  // 3 batches per epoch: 6 optimizer steps
  // Per step (before the batch): the lr the batch trains with; StepLR halves it every 2 steps.
  std::vector<double> lrs;
  std::vector<int64_t> step_logs;
  for (const auto& [step, v] : rec->logs) {
    if (v.count("lr-SGD")) lrs.push_back(v.at("lr-SGD"));
    if (v.count("train_loss_step")) {
      step_logs.push_back(step);
      CHECK(v.count("train_accuracy_step") == 1);
    }
  }
  CHECK(lrs == std::vector<double>{0.1, 0.1, 0.05, 0.05, 0.025, 0.025});
  CHECK(step_logs == std::vector<int64_t>{3, 6});  // log_every_n_steps = 3
  // The epoch values arrive at the step the epoch ended on.
  CHECK(rec->logs.back().first == 6);
  CHECK(rec->logs.back().second.count("val_accuracy") == 1);
  std::rewind(out);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  CHECK(text.find("epoch 0: train_accuracy ") != std::string::npos);
  CHECK(text.find("epoch 1: train_accuracy ") != std::string::npos);
  CHECK(text.find(" val_loss ") != std::string::npos);
}

}  // namespace
}  // namespace doppel::testing
