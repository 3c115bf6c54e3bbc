// The main job (README command one): train a small CNN on Fashion-MNIST in eager mode, evaluate
// it on the 10k test images, and save a checkpoint. Later issues add: trace the training step,
// export the model, run the exported file.
//
//   fashion_mnist [--epochs N] [--batch B] [--lr LR] [--seed S] [--threads T] [--limit N]
//                 [--checkpoint PATH]
//
// Reproducible for a fixed seed and thread count.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "doppel/data/dataloader.h"
#include "doppel/data/fashion_mnist.h"
#include "doppel/data/transforms.h"
#include "doppel/doppel.h"
#include "doppel/io/checkpoint.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "doppel/progress.h"

using namespace doppel;

namespace {

struct Args {
  int64_t epochs = 5;
  int64_t batch = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  int threads = 0;     // 0: OpenMP's default
  int64_t limit = 0;   // > 0: train on only this many samples per epoch (quick runs)
  std::string checkpoint = "build/fashion_mnist/cnn.safetensors";
};

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
    if (k == "--epochs") a.epochs = std::stoll(value());
    else if (k == "--batch") a.batch = std::stoll(value());
    else if (k == "--lr") a.lr = std::stod(value());
    else if (k == "--seed") a.seed = std::stoull(value());
    else if (k == "--threads") a.threads = std::stoi(value());
    else if (k == "--limit") a.limit = std::stoll(value());
    else if (k == "--checkpoint") a.checkpoint = value();
    else {
      std::fprintf(stderr,
                   "usage: fashion_mnist [--epochs N] [--batch B] [--lr LR] [--seed S] [--threads T] [--limit N] "
                   "[--checkpoint PATH]\n");
      std::exit(k == "--help" || k == "-h" ? 0 : 2);
    }
  }
  return a;
}

// conv(1→32) bn relu pool, conv(32→64) bn relu pool, fc(3136→128) relu dropout, fc(128→10).
std::shared_ptr<nn::Sequential> make_cnn() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 32, .kernel = 3, .padding = 1, .bias = false}),
      std::make_shared<nn::BatchNorm2d>(32), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 32, .out = 64, .kernel = 3, .padding = 1, .bias = false}),
      std::make_shared<nn::BatchNorm2d>(64), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(64 * 7 * 7, 128), std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.25),
      std::make_shared<nn::Linear>(128, 10)});
}

// Test-set accuracy in eval mode, without autograd.
double evaluate(nn::Module& model, data::DataLoader& loader) {
  NoGradGuard no_grad;
  model.eval();
  int64_t correct = 0, total = 0;
  for (const data::Batch& b : loader) {
    correct += sum(eq(argmax(model(b.data), 1), b.target)).item<int64_t>();
    total += b.target.numel();
  }
  model.train();
  return total ? double(correct) / double(total) : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  if (args.threads > 0) set_num_threads(args.threads);
  manual_seed(args.seed);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // epoch lines appear as they happen, also in logs
  std::printf("doppel Fashion-MNIST: small CNN, Adam lr %g, batch %lld, %lld epochs, seed %llu, %d threads\n", args.lr,
              (long long)args.batch, (long long)args.epochs, (unsigned long long)args.seed, get_num_threads());

  auto train_set = std::make_shared<data::FashionMNIST>(std::string(data::kFashionMNISTRoot), true);
  const int64_t per_epoch = args.limit > 0 ? std::min<int64_t>(args.limit, int64_t(train_set->size()))
                                           : int64_t(train_set->size());
  auto test_set = std::make_shared<data::FashionMNIST>(std::string(data::kFashionMNISTRoot), false);
  // Fashion-MNIST's training-set pixel mean and standard deviation; flips are label-preserving
  // for clothes and add a little augmentation.
  const data::Normalize normalize({0.2860}, {0.3530});
  data::DataLoader train_loader(
      train_set, {.batch_size = args.batch,
                  .shuffle = true,
                  .seed = args.seed,
                  .transform = data::Compose({data::RandomHorizontalFlip(0.5), normalize})});
  data::DataLoader test_loader(test_set, {.batch_size = 1000, .transform = normalize});

  auto model = make_cnn();
  optim::Adam opt(model->parameters(), optim::AdamOptions{.lr = args.lr});
  const int64_t steps = args.epochs * ((per_epoch + args.batch - 1) / args.batch);
  optim::CosineAnnealingLR schedule(opt, steps);
  nn::CrossEntropyLoss loss_fn;

  double total_seconds = 0, accuracy = 0;
  for (int64_t epoch = 1; epoch <= args.epochs; ++epoch) {
    ProgressBar bar(per_epoch, fmt::format("epoch {}/{}", epoch, args.epochs), "samples");
    double loss_sum = 0;
    int64_t seen = 0, correct = 0, batches = 0;
    for (const data::Batch& b : train_loader) {
      if (seen >= per_epoch) break;
      Tensor logits = (*model)(b.data);
      Tensor loss = loss_fn(logits, b.target);
      opt.zero_grad();
      loss.backward();
      opt.step();
      schedule.step();
      loss_sum += loss.item<double>();
      {
        NoGradGuard no_grad;
        correct += sum(eq(argmax(logits, 1), b.target)).item<int64_t>();
      }
      seen += b.target.numel();
      ++batches;
      bar.update(b.target.numel(), fmt::format("loss {:.4f} acc {:.4f}", loss_sum / double(batches),
                                               double(correct) / double(seen)));
    }
    bar.finish();
    const double epoch_seconds = bar.elapsed_seconds(), rate = bar.rate();
    total_seconds += epoch_seconds;
    accuracy = evaluate(*model, test_loader);
    std::printf("epoch %lld: train loss %.4f, train acc %.4f, %.1f s (%.0f samples/s), test acc %.4f\n",
                (long long)epoch, loss_sum / double(std::max<int64_t>(batches, 1)),
                double(correct) / double(std::max<int64_t>(seen, 1)), epoch_seconds, rate, accuracy);
  }

  std::filesystem::create_directories(std::filesystem::path(args.checkpoint).parent_path());
  io::save_checkpoint(args.checkpoint, {{"model", model->state_dict()}, {"optim", opt.state_dict()}},
                      {{"test_accuracy", fmt::format("{:.4f}", accuracy)}, {"epochs", std::to_string(args.epochs)}});
  std::printf("test accuracy %.4f after %lld epochs (%.1f s training, %.1f s/epoch); checkpoint: %s\n", accuracy,
              (long long)args.epochs, total_seconds, total_seconds / double(std::max<int64_t>(args.epochs, 1)),
              args.checkpoint.c_str());
  return 0;
}
