// The main job (README command one): train a small CNN on Fashion-MNIST with doppel::Trainer,
// evaluating it on the 10k test images after every epoch, logging to TensorBoard, and save a
// checkpoint; then (--eval-only) evaluate it as a compiled graph, export it to one model file and
// evaluate the test set again with the standalone runtime loading that file.
//
//   fashion_mnist [--mode eager|graph] [--epochs N] [--batch B] [--lr LR] [--seed S] [--threads T]
//                 [--limit N] [--checkpoint PATH] [--logdir DIR | --no-tensorboard] [--eval-only]
//   mpirun -np N fashion_mnist --distributed [...]   (data parallel: fashion_mnist_distributed.cpp)
//
// --mode eager (the default) runs every op through the eager dispatcher (TrainerOptions::compile
// = false). --mode graph compiles the whole training step (zero_grad, forward, loss, backward,
// Adam step) and the evaluation forward with doppel::compile, with a dynamic batch dimension so
// the epoch's last, smaller batch replays the same graph. The Trainer's callbacks show a progress
// bar and one line per epoch, and (callbacks::TensorBoardLogger) write TensorBoard event files to
// <--logdir>/version_<N> (default runs/fashion_mnist; N counts the runs there): the loss and
// accuracy per step and per epoch, the learning rate per step, the graph, the hparams. --eval-only loads --checkpoint
// and prints its test accuracy evaluated eagerly and through the compiled graph, exports the inference graph (--export,
// default next to the checkpoint as .dpl) with a parity check, loads it with doppel::runtime::Model and evaluates the
// test set with it; all three accuracies must agree (tools/main.sh runs this after training).
//
// Reproducible for a fixed seed, thread count and mode.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "doppel/data/dataloader.h"
#include "doppel/data/fashion_mnist.h"
#include "doppel/data/transforms.h"
#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/io/checkpoint.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "doppel/runtime/model.h"
#include "doppel/trainer/lr_monitor.h"
#include "doppel/trainer/progress_bar.h"
#include "doppel/trainer/tensorboard_logger.h"
#include "doppel/trainer/trainer.h"
#include "fashion_mnist_cnn.h"
#include "fashion_mnist_distributed.h"

using namespace doppel;

namespace {

struct Args {
  int64_t epochs = 5;
  int64_t batch = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  int threads = 0;    // 0: OpenMP's default
  int64_t limit = 0;  // > 0: train on only this many samples per epoch (quick runs)
  std::string checkpoint = "build/fashion_mnist/cnn.safetensors";
  std::string export_path;  // --eval-only: the model file to write (default: the checkpoint's path, .dpl)
  bool graph = false;       // --mode graph
  bool eval_only = false;   // load --checkpoint, evaluate eagerly and as a graph, exit
  std::string logdir = "runs/fashion_mnist";  // TensorBoard logs: <logdir>/version_<N>
  bool tensorboard = true;                    // --no-tensorboard: none
  bool distributed = false;                   // --distributed: one rank of an mpirun job
};

constexpr const char* kUsage =
    "usage: fashion_mnist [--mode eager|graph] [--epochs N] [--batch B] [--lr LR] [--seed S] [--threads T] "
    "[--limit N] [--checkpoint PATH] [--logdir DIR | --no-tensorboard] [--eval-only [--export PATH]]\n"
    "       mpirun -np N fashion_mnist --distributed [--epochs N] [--batch B per rank] [--lr LR] [--seed S] "
    "[--threads T] [--limit N] [--checkpoint PATH]\n";

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fashion_mnist: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--epochs")
      a.epochs = std::stoll(value());
    else if (k == "--batch")
      a.batch = std::stoll(value());
    else if (k == "--lr")
      a.lr = std::stod(value());
    else if (k == "--seed")
      a.seed = std::stoull(value());
    else if (k == "--threads")
      a.threads = std::stoi(value());
    else if (k == "--limit")
      a.limit = std::stoll(value());
    else if (k == "--checkpoint")
      a.checkpoint = value();
    else if (k == "--eval-only")
      a.eval_only = true;
    else if (k == "--export")
      a.export_path = value();
    else if (k == "--logdir")
      a.logdir = value();
    else if (k == "--distributed")
      a.distributed = true;
    else if (k == "--no-tensorboard")
      a.tensorboard = false;
    else if (k == "--mode") {
      const std::string m = value();
      if (m != "eager" && m != "graph") {
        std::fprintf(stderr, "fashion_mnist: --mode must be eager or graph, not '%s'\n%s", m.c_str(), kUsage);
        std::exit(2);
      }
      a.graph = m == "graph";
    } else {
      std::fprintf(stderr, "%s", kUsage);
      std::exit(k == "--help" || k == "-h" ? 0 : 2);
    }
  }
  if (a.epochs < 1 || a.batch < 1) {
    std::fprintf(stderr, "fashion_mnist: --epochs and --batch must be >= 1\n%s", kUsage);
    std::exit(2);
  }
  return a;
}

// Both inputs (images, labels) share the batch dimension: one graph serves every batch size.
CompileOptions batch_dynamic() { return {.dynamic = {{0, 0, "batch"}, {1, 0, "batch"}}}; }

// Test-set accuracy in eval mode, without autograd. With `compiled` the forward pass is a
// replayed graph (a function of (images, labels) returning the correct count); eval() is set
// out here, not inside it, because a replay does not run the function's host code: the
// training flag is a guard the compiled function checks before each call.
double evaluate(nn::Module& model, data::DataLoader& loader, CompiledFunction* compiled = nullptr) {
  model.eval();
  int64_t correct = 0, total = 0;
  for (const data::Batch& b : loader) {
    if (compiled) {
      correct += (*compiled)({b.data, b.target})[0].item<int64_t>();
    } else {
      NoGradGuard no_grad;
      correct += examples::count_correct(model(b.data), b.target).item<int64_t>();
    }
    total += b.target.numel();
  }
  model.train();
  return total ? double(correct) / double(total) : 0.0;
}

// The compiled evaluation function: no autograd inside, so the graph holds the forward only.
CompiledFunction compile_eval(nn::Module& model) {
  return compile(
      [&model](const std::vector<Tensor>& in) {
        NoGradGuard no_grad;
        return std::vector<Tensor>{examples::count_correct(model(in[0]), in[1])};
      },
      batch_dynamic());
}

// The inference function that is exported: images -> logits, batch dynamic.
CompiledFunction compile_forward(nn::Module& model) {
  return compile(
      [&model](const std::vector<Tensor>& in) {
        NoGradGuard no_grad;
        return std::vector<Tensor>{model(in[0])};
      },
      {.dynamic = {{0, 0, "batch"}}});
}

// Test-set accuracy of a model file run by the standalone runtime (no eager, no autograd inside).
double evaluate_runtime(const runtime::Model& m, data::DataLoader& loader) {
  int64_t correct = 0, total = 0;
  for (const data::Batch& b : loader) {
    const Tensor logits = m.run({b.data})[0];
    correct += examples::count_correct(logits, b.target).item<int64_t>();
    total += b.target.numel();
  }
  return total ? double(correct) / double(total) : 0.0;
}

void print_traces(const char* what, const CompiledFunction& f) {
  std::printf("%s: %lld trace(s), %lld graph run(s)", what, (long long)f.num_traces(), (long long)f.num_graph_runs());
  for (const std::string& why : f.trace_reasons()) std::printf("; traced because: %s", why.c_str());
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  if (args.threads > 0) set_num_threads(args.threads);
  manual_seed(args.seed);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // epoch lines appear as they happen, also in logs
  if (args.distributed) {
#ifdef DOPPEL_EXAMPLE_DISTRIBUTED
    return examples::train_distributed({.epochs = args.epochs,
                                        .batch = args.batch,
                                        .lr = args.lr,
                                        .seed = args.seed,
                                        .limit = args.limit,
                                        .checkpoint = args.checkpoint});
#else
    std::fprintf(stderr, "fashion_mnist: --distributed needs doppel built with DOPPEL_DISTRIBUTED (an MPI library)\n");
    return 2;
#endif
  }
  if (!args.eval_only)
    std::printf(
        "doppel Fashion-MNIST: small CNN, %s mode, Adam lr %g, batch %lld, %lld epochs, seed %llu, %d threads\n",
        args.graph ? "graph" : "eager", args.lr, (long long)args.batch, (long long)args.epochs,
        (unsigned long long)args.seed, get_num_threads());

  auto train_set = std::make_shared<data::FashionMNIST>(std::string(data::kFashionMNISTRoot), true);
  const int64_t per_epoch =
      args.limit > 0 ? std::min<int64_t>(args.limit, int64_t(train_set->size())) : int64_t(train_set->size());
  auto test_set = std::make_shared<data::FashionMNIST>(std::string(data::kFashionMNISTRoot), false);
  // Fashion-MNIST's training-set pixel mean and standard deviation; flips are label-preserving
  // for clothes and add a little augmentation.
  const data::Normalize normalize({0.2860}, {0.3530});
  data::DataLoader train_loader(train_set, {.batch_size = args.batch,
                                            .shuffle = true,
                                            .seed = args.seed,
                                            .transform = data::Compose({data::RandomHorizontalFlip(0.5), normalize})});
  data::DataLoader test_loader(test_set, {.batch_size = 1000, .transform = normalize});

  auto model = examples::make_fashion_mnist_cnn();
  if (args.eval_only) {
    // Graph mode on a trained model: the same checkpoint evaluated eagerly and as a graph must
    // give the same accuracy (up to float reassociation flipping a near-tie).
    model->load_state_dict(io::load_checkpoint(args.checkpoint).part("model"));
    const double eager_acc = evaluate(*model, test_loader);
    CompiledFunction eval_graph = compile_eval(*model);
    const double graph_acc = evaluate(*model, test_loader, &eval_graph);
    const double graph_acc2 = evaluate(*model, test_loader, &eval_graph);  // this pass is all replays
    print_traces("graph evaluation", eval_graph);
    std::printf("checkpoint %s: test accuracy eager %.4f, graph %.4f (replayed %.4f)\n", args.checkpoint.c_str(),
                eager_acc, graph_acc, graph_acc2);

    // Export: one file with the inference graph, weights, signature and metadata; export_model
    // replays random batches through eager and the written graph and refuses a file that differs.
    const std::string path = args.export_path.empty()
                                 ? std::filesystem::path(args.checkpoint).replace_extension(".dpl").string()
                                 : args.export_path;
    model->eval();
    CompiledFunction forward = compile_forward(*model);
    export_model(forward, {randn({8, 1, 28, 28})}, path,
                 {.metadata = {{"dataset", "fashion-mnist"}, {"eager_test_accuracy", std::to_string(eager_acc)}},
                  .input_names = {"image"},
                  .output_names = {"logits"},
                  .parity_samples = 3,
                  .max_dynamic = 16});
    const runtime::Model loaded = runtime::Model::load(path);
    const double runtime_acc = evaluate_runtime(loaded, test_loader);
    std::printf("exported %s (%s -> %s): runtime test accuracy %.4f\n", path.c_str(),
                loaded.signature().inputs[0].str().c_str(), loaded.signature().outputs[0].str().c_str(), runtime_acc);
    std::printf("run it:   build/release/serve/doppel-run %s --signature\n", path.c_str());
    std::printf(
        "serve it: build/release/serve/doppel-serve %s --port 8501  "
        "(TensorFlow Serving REST: POST http://127.0.0.1:8501/v1/models/%s:predict)\n",
        path.c_str(), std::filesystem::path(path).stem().c_str());
    const bool agree = graph_acc2 == graph_acc && std::abs(graph_acc - eager_acc) <= 0.002 &&
                       std::abs(runtime_acc - eager_acc) <= 0.002;
    return agree ? 0 : 1;
  }
  // The Trainer's step: zero_grad, forward, cross entropy, backward, Adam step, then the cosine
  // schedule (per step). --mode graph compiles that whole step and the evaluation forward; its
  // dynamic batch dimension lets the epoch's last, smaller batch replay the same graph. The
  // scheduler sets the optimizer's lr, which the step reads as a tensor, so a replayed graph sees
  // each new value; dropout draws fresh random numbers on every replay; BatchNorm's running
  // statistics are state updates of the graph. The test set is the validation set after each epoch.
  auto opt = std::make_shared<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = args.lr});
  const int64_t batches = (per_epoch + args.batch - 1) / args.batch;
  std::vector<std::shared_ptr<Callback>> cbs{std::make_shared<callbacks::ProgressBar>(stdout),
                                             std::make_shared<callbacks::LearningRateMonitor>(Interval::Step)};
  if (args.tensorboard) {
    auto logger = std::make_shared<callbacks::TensorBoardLogger>(
        callbacks::TensorBoardLoggerOptions{.save_dir = args.logdir,
                                            .name = "",
                                            .hparams = {{"mode", std::string(args.graph ? "graph" : "eager")},
                                                        {"batch", double(args.batch)},
                                                        {"epochs", double(args.epochs)},
                                                        {"seed", double(args.seed)},
                                                        {"threads", double(get_num_threads())},
                                                        {"limit", double(args.limit)}}});
    std::printf("TensorBoard logs: %s (tensorboard --logdir %s)\n", logger->log_dir().c_str(), args.logdir.c_str());
    cbs.push_back(logger);
  }
  Trainer trainer({.optimizer = opt,
                   .scheduler = std::make_shared<optim::CosineAnnealingLR>(*opt, args.epochs * batches),
                   .scheduler_interval = Interval::Step,
                   .metrics = {std::make_shared<metrics::Accuracy>()},
                   .callbacks = cbs,
                   .compile = args.graph,
                   .limit_train_batches = args.limit > 0 ? batches : 0});
  const auto start = std::chrono::steady_clock::now();
  trainer.fit(*model, train_loader, &test_loader, args.epochs);
  const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (args.graph) print_traces("graph training step", *trainer.compiled_training_step());
  const double accuracy = trainer.history().empty() ? 0.0 : trainer.history().back().at("val_accuracy");

  std::filesystem::create_directories(std::filesystem::path(args.checkpoint).parent_path());
  io::save_checkpoint(args.checkpoint, {{"model", model->state_dict()}, {"optim", opt->state_dict()}},
                      {{"test_accuracy", fmt::format("{:.4f}", accuracy)}, {"epochs", std::to_string(args.epochs)}});
  std::printf("test accuracy %.4f after %lld epochs (%.1f s training and evaluation, %.1f s/epoch); checkpoint: %s\n",
              accuracy, (long long)args.epochs, total_seconds,
              total_seconds / double(std::max<int64_t>(args.epochs, 1)), args.checkpoint.c_str());
  return 0;
}
