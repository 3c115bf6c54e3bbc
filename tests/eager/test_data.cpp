// Data loading: TensorDataset, DataLoader (batching, shuffling, drop_last, prefetch,
// reproducibility, error propagation), transforms, and the Fashion-MNIST reader.
#include <unistd.h>
#include <zlib.h>
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "doppel/data/dataloader.h"
#include "doppel/data/dataset.h"
#include "doppel/data/fashion_mnist.h"
#include "doppel/data/transforms.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

namespace fs = std::filesystem;
using namespace doppel::data;
using Catch::Matchers::ContainsSubstring;

// data[i] = [[i*6 + 0..2], [i*6 + 3..5]] (float32 [2, 3]), target[i] = i (int64).
std::shared_ptr<TensorDataset> counting_dataset(int64_t n) {
  Tensor data = make_tensor({n, 2, 3}, DType::Float32);
  Tensor target = make_tensor({n}, DType::Int64);
  for (int64_t k = 0; k < n * 6; ++k) data.data_ptr<float>()[k] = float(k);
  for (int64_t k = 0; k < n; ++k) target.data_ptr<int64_t>()[k] = k;
  return std::make_shared<TensorDataset>(data, target);
}

// The example indices of a batch of counting_dataset (read back from the targets), after
// checking that each row of data belongs to its target.
std::vector<int64_t> batch_ids(const Batch& b) {
  std::vector<int64_t> ids = b.target.to_vector<int64_t>();
  const std::vector<float> d = b.data.to_vector<float>();
  REQUIRE(d.size() == ids.size() * 6);
  for (size_t r = 0; r < ids.size(); ++r)
    for (size_t c = 0; c < 6; ++c) REQUIRE(d[r * 6 + c] == float(ids[r] * 6 + int64_t(c)));
  return ids;
}

std::vector<std::vector<int64_t>> run_epoch(DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (const Batch& b : loader) out.push_back(batch_ids(b));
  return out;
}

TEST_CASE("data: TensorDataset returns row views and checks its inputs", "[data]") {
  auto ds = counting_dataset(5);
  CHECK(ds->size() == 5);
  const Example e = ds->get(3);
  CHECK(e.data.shape() == Shape{2, 3});
  CHECK(e.target.dim() == 0);
  CHECK(e.target.item<int64_t>() == 3);
  CHECK(e.data.storage().get() == ds->data().storage().get());  // a view, not a copy
  CHECK(e.data.to_vector<float>() == std::vector<float>{18, 19, 20, 21, 22, 23});
  CHECK_THROWS_AS(ds->get(5), IndexError);
  CHECK_THROWS_AS(TensorDataset(make_tensor({4, 2}, DType::Float32), make_tensor({3}, DType::Int64)), ShapeError);
  const TensorDataset unlabeled(make_tensor({2, 2}, DType::Float32), Tensor());
  CHECK_FALSE(unlabeled.get(1).target.defined());
}

TEST_CASE("data: DataLoader batches in order, with a short last batch or drop_last", "[data]") {
  auto ds = counting_dataset(10);
  for (int64_t prefetch : {0, 1, 3}) {
    INFO("prefetch " << prefetch);
    DataLoader loader(ds, {.batch_size = 4, .prefetch = prefetch});
    CHECK(loader.size() == 3);
    std::vector<Batch> batches;
    for (const Batch& b : loader) batches.push_back(b);
    REQUIRE(batches.size() == 3);
    CHECK(batches[0].data.shape() == Shape{4, 2, 3});
    CHECK(batches[0].target.shape() == Shape{4});
    CHECK(batches[0].data.dtype() == DType::Float32);
    CHECK(batches[0].target.dtype() == DType::Int64);
    CHECK(batch_ids(batches[0]) == std::vector<int64_t>{0, 1, 2, 3});
    CHECK(batch_ids(batches[2]) == std::vector<int64_t>{8, 9});

    DataLoader dropping(ds, {.batch_size = 4, .drop_last = true, .prefetch = prefetch});
    CHECK(dropping.size() == 2);
    CHECK(run_epoch(dropping) == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}});
  }
  DataLoader exact(ds, {.batch_size = 5, .drop_last = true});
  CHECK(exact.size() == 2);
  DataLoader big(ds, {.batch_size = 64, .drop_last = true});
  CHECK(big.size() == 0);
  CHECK(run_epoch(big).empty());
  CHECK_THROWS_AS(DataLoader(ds, {.batch_size = 0}), ValueError);
  CHECK_THROWS_AS(DataLoader(nullptr, {}), ValueError);
}

TEST_CASE("data: shuffling is a permutation, reproducible per seed, new each epoch", "[data]") {
  auto ds = counting_dataset(50);
  DataLoader a(ds, {.batch_size = 8, .shuffle = true, .seed = 42, .prefetch = 2});
  DataLoader b(ds, {.batch_size = 8, .shuffle = true, .seed = 42, .prefetch = 0});
  DataLoader c(ds, {.batch_size = 8, .shuffle = true, .seed = 43});
  const auto a0 = run_epoch(a), a1 = run_epoch(a);
  const auto b0 = run_epoch(b), b1 = run_epoch(b);
  const auto c0 = run_epoch(c);
  CHECK(a.epoch() == 2);
  CHECK(a0 == b0);  // prefetch (a background thread) changes nothing
  CHECK(a1 == b1);
  CHECK(a0 != a1);  // a new order each epoch
  CHECK(a0 != c0);  // and per seed
  std::vector<int64_t> flat;
  for (const auto& v : a0) flat.insert(flat.end(), v.begin(), v.end());
  CHECK(std::set<int64_t>(flat.begin(), flat.end()).size() == 50);
  CHECK(flat.size() == 50);
  std::vector<int64_t> from_indices;
  for (size_t i : a.indices(0)) from_indices.push_back(int64_t(i));
  CHECK(flat == from_indices);
  // Rewinding the epoch counter replays the epoch; batch() gives the same batch directly.
  a.set_epoch(1);
  CHECK(run_epoch(a) == a1);
  CHECK(batch_ids(a.batch(1, 2)) == a1[2]);
  // Without shuffle the order is the identity every epoch.
  DataLoader plain(ds, {.batch_size = 50});
  CHECK(run_epoch(plain) == run_epoch(plain));
}

class FailingDataset : public Dataset {
 public:
  size_t size() const override { return 20; }
  Example get(size_t i) const override {
    DOPPEL_CHECK_INDEX(i != 13, "example 13 is broken");
    return {make_tensor({2}, DType::Float32), make_tensor({}, DType::Int64)};
  }
};

TEST_CASE("data: errors in the prefetch thread reach the caller, early exit does not hang", "[data]") {
  for (int64_t prefetch : {0, 2}) {
    INFO("prefetch " << prefetch);
    DataLoader loader(std::make_shared<FailingDataset>(), {.batch_size = 4, .prefetch = prefetch});
    int seen = 0;
    auto consume = [&] {
      for (const Batch& bt : loader) {
        CHECK(bt.data.shape() == Shape{4, 2});
        ++seen;
      }
    };
    CHECK_THAT(error_message<IndexError>([&] { (void)consume(); }), ContainsSubstring("13 is broken"));
    CHECK(seen == 3);  // the batches before the failing one arrive first
  }
  auto ds = counting_dataset(1000);
  DataLoader loader(ds, {.batch_size = 2, .prefetch = 4});
  for (const Batch& bt : loader) {
    CHECK(bt.data.size(0) == 2);
    break;  // the producer is stopped and joined when the iterator goes away
  }
  CHECK(run_epoch(loader).size() == 500);
}

TEST_CASE("data: examples of different shapes cannot be batched", "[data]") {
  CHECK_THROWS_AS(collate({{make_tensor({2}, DType::Float32), Tensor()}, {make_tensor({3}, DType::Float32), Tensor()}}),
                  ShapeError);
  CHECK_THROWS_AS(collate({{make_tensor({2}, DType::Float32), Tensor()}, {make_tensor({2}, DType::Float64), Tensor()}}),
                  DTypeError);
  // Strided examples are gathered correctly.
  Tensor base = make_tensor({3, 2}, DType::Int32);
  for (int k = 0; k < 6; ++k) base.data_ptr<int32_t>()[k] = k;
  const Tensor col0 = make_view(base, {3}, {2}, 0), col1 = make_view(base, {3}, {2}, 1);
  const Batch b = collate({{col0, Tensor()}, {col1, Tensor()}});
  CHECK(b.data.to_vector<int32_t>() == std::vector<int32_t>{0, 2, 4, 1, 3, 5});
  CHECK_FALSE(b.target.defined());
}

TEST_CASE("data: transforms in the loader are reproducible and independent of prefetch", "[data]") {
  auto ds = counting_dataset(32);
  const Transform aug = Compose({RandomHorizontalFlip(0.5), RandomCrop(2, 3, 1)});
  DataLoader a(ds, {.batch_size = 8, .shuffle = true, .seed = 7, .prefetch = 3, .transform = aug});
  DataLoader b(ds, {.batch_size = 8, .shuffle = true, .seed = 7, .prefetch = 0, .transform = aug});
  std::vector<std::vector<float>> ea, eb;
  for (const Batch& x : a) ea.push_back(x.data.to_vector<float>());
  for (const Batch& x : b) eb.push_back(x.data.to_vector<float>());
  CHECK(ea == eb);
  std::vector<std::vector<float>> ea1;
  for (const Batch& x : a) ea1.push_back(x.data.to_vector<float>());
  CHECK(ea1 != ea);
}

TEST_CASE("data: Normalize subtracts the mean and divides by the std per channel", "[data]") {
  Generator gen(1);
  Tensor x = make_tensor({2, 1, 2}, DType::Float32);
  const float v[] = {1, 2, 3, 4};
  std::copy(v, v + 4, x.data_ptr<float>());
  const Tensor y = Normalize({1.0, 2.0}, {2.0, 0.5})(x, gen);
  CHECK(y.to_vector<float>() == std::vector<float>{0.0f, 0.5f, 2.0f, 4.0f});
  const Tensor z = Normalize({0.5}, {0.25})(x.to(DType::Float64), gen);
  CHECK(z.dtype() == DType::Float64);
  CHECK(z.to_vector<double>() == std::vector<double>{2, 6, 10, 14});
  CHECK_THROWS_AS(Normalize({0.5}, {0.5})(make_tensor({2}, DType::UInt8), gen), DTypeError);
  CHECK_THROWS_AS(Normalize({0, 0, 0}, {1, 1, 1})(x, gen), ShapeError);
  CHECK_THROWS_AS(Normalize({0}, {0}), ValueError);
  CHECK_THROWS_AS(Normalize({0, 1}, {1}), ValueError);
}

TEST_CASE("data: RandomCrop cuts a window of the zero-padded image, every offset occurs", "[data]") {
  // A 1x3x4 image with values 1..12 (no zeros, so padding is recognisable).
  Tensor x = make_tensor({1, 3, 4}, DType::Float32);
  for (int k = 0; k < 12; ++k) x.data_ptr<float>()[k] = float(k + 1);
  auto padded_at = [](int64_t r, int64_t c) -> float {  // padding 1
    r -= 1, c -= 1;
    return (r < 0 || r >= 3 || c < 0 || c >= 4) ? 0.0f : float(r * 4 + c + 1);
  };
  Generator gen(123);
  const RandomCrop crop(2, 3, 1);
  std::set<std::pair<int64_t, int64_t>> origins;
  for (int trial = 0; trial < 400; ++trial) {
    const Tensor y = crop(x, gen);
    REQUIRE(y.shape() == Shape{1, 2, 3});
    const std::vector<float> v = y.to_vector<float>();
    int matches = 0;
    for (int64_t top = 0; top <= 5 - 2; ++top)
      for (int64_t left = 0; left <= 6 - 3; ++left) {
        bool ok = true;
        for (int64_t r = 0; r < 2; ++r)
          for (int64_t c = 0; c < 3; ++c) ok = ok && v[size_t(r * 3 + c)] == padded_at(top + r, left + c);
        if (ok) {
          ++matches;
          origins.insert({top, left});
        }
      }
    REQUIRE(matches == 1);  // values are distinct, so exactly one window fits
  }
  CHECK(origins.size() == 16);  // all 4x4 window origins were drawn
  // Without padding and a full-size crop it is the identity; integer dtypes work too.
  Tensor xi = make_tensor({3, 4}, DType::Int64);
  for (int k = 0; k < 12; ++k) xi.data_ptr<int64_t>()[k] = k;
  CHECK(RandomCrop(3, 4, 0)(xi, gen).to_vector<int64_t>() == xi.to_vector<int64_t>());
  CHECK_THROWS_AS(RandomCrop(5, 0)(xi, gen), ShapeError);
  CHECK_THROWS_AS(RandomCrop(2, 2, 0)(make_tensor({4}, DType::Float32), gen), ShapeError);
  // The same generator state gives the same crop.
  Generator g1(5), g2(5);
  CHECK(crop(x, g1).to_vector<float>() == crop(x, g2).to_vector<float>());
}

TEST_CASE("data: RandomHorizontalFlip reverses the last dim with probability p", "[data]") {
  Tensor x = make_tensor({2, 3}, DType::Int32);
  for (int k = 0; k < 6; ++k) x.data_ptr<int32_t>()[k] = k;
  Generator gen(9);
  CHECK(RandomHorizontalFlip(1.0)(x, gen).to_vector<int32_t>() == std::vector<int32_t>{2, 1, 0, 5, 4, 3});
  CHECK(RandomHorizontalFlip(0.0)(x, gen).to_vector<int32_t>() == x.to_vector<int32_t>());
  int flipped = 0;
  const RandomHorizontalFlip flip(0.5);
  for (int t = 0; t < 2000; ++t) flipped += flip(x, gen).to_vector<int32_t>()[0] == 2;
  CHECK(flipped > 880);  // ~6 sigma around 1000
  CHECK(flipped < 1120);
  // A strided input: flips its logical values.
  const Tensor xt = make_view(x, {3, 2}, {1, 3}, 0);  // x transposed: [[0,3],[1,4],[2,5]]
  CHECK(RandomHorizontalFlip(1.0)(xt, gen).to_vector<int32_t>() == std::vector<int32_t>{3, 0, 4, 1, 5, 2});
  CHECK_THROWS_AS(RandomHorizontalFlip(1.5), ValueError);
}

// ---- Fashion-MNIST ---------------------------------------------------------------------

const FashionMNIST& fmnist_train() {
  static const FashionMNIST ds(std::string(kFashionMNISTRoot), true);
  return ds;
}

TEST_CASE("data: Fashion-MNIST loads 60000/10000 examples with the known statistics", "[data]") {
  const FashionMNIST& train = fmnist_train();
  CHECK(train.size() == 60000);
  CHECK(train.images().shape() == Shape{60000, 1, 28, 28});
  CHECK(train.labels().dtype() == DType::Int64);
  // Pixel mean of the training set (the usual normalization constant), computed in double.
  const float* p = train.images().data_ptr<float>();
  double sum = 0, sumsq = 0;
  float lo = 1, hi = 0;
  for (int64_t k = 0; k < train.images().numel(); ++k) {
    sum += p[k];
    sumsq += double(p[k]) * p[k];
    lo = std::min(lo, p[k]);
    hi = std::max(hi, p[k]);
  }
  const double n = double(train.images().numel());
  const double mean = sum / n, std = std::sqrt(sumsq / n - mean * mean);
  CHECK(std::abs(mean - 0.2860) < 5e-4);
  CHECK(std::abs(std - 0.3530) < 5e-4);
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
  // Balanced classes: 6000 each.
  std::vector<int64_t> counts(10, 0);
  const int64_t* l = train.labels().data_ptr<int64_t>();
  for (int64_t k = 0; k < 60000; ++k) ++counts[size_t(l[k])];
  CHECK(counts == std::vector<int64_t>(10, 6000));
  const Example e = train.get(0);
  CHECK(e.data.shape() == Shape{1, 28, 28});
  CHECK(e.target.dim() == 0);
  CHECK(e.target.item<int64_t>() == 9);  // the first training image is an ankle boot
  CHECK(FashionMNIST::class_names()[9] == "Ankle boot");
  CHECK_THROWS_AS(train.get(60000), IndexError);

  const FashionMNIST test(std::string(kFashionMNISTRoot), false);
  CHECK(test.size() == 10000);
  CHECK(test.get(0).target.item<int64_t>() == 9);
}

TEST_CASE("data: a Fashion-MNIST epoch is batched fast", "[data]") {
  auto train = std::shared_ptr<const Dataset>(&fmnist_train(), [](const Dataset*) {});
  DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 3, .prefetch = 0});
  const auto t0 = std::chrono::steady_clock::now();
  size_t batches = 0, examples = 0;
  double checksum = 0;
  for (const Batch& b : loader) {
    ++batches;
    examples += size_t(b.data.size(0));
    checksum += double(b.target.data_ptr<int64_t>()[0]);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(batches == 469);
  CHECK(examples == 60000);
  CHECK(checksum > 0);
  INFO("epoch took " << secs << " s");
  CHECK(secs < 1.0);
}

void write_idx(const fs::path& path, std::vector<uint8_t> header_magic, std::vector<uint32_t> dims,
               const std::vector<uint8_t>& data, bool gz) {
  std::string bytes(header_magic.begin(), header_magic.end());
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) bytes += char((d >> s) & 0xFF);
  bytes.append(data.begin(), data.end());
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  }
}

TEST_CASE("data: missing or corrupt Fashion-MNIST files are clear errors", "[data]") {
  TempDir dir;
  const std::string root = dir.path.string();
  CHECK_THAT(error_message<ValueError>([&] { (void)FashionMNIST(root, true); }),
             ContainsSubstring("train-images-idx3-ubyte") && ContainsSubstring("dataset-fashion-mnist"));
  const std::vector<uint8_t> pixels(3 * 28 * 28, 255);
  auto images = [&](bool gz) {
    write_idx(dir.path / (gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte"), {0, 0, 8, 3}, {3, 28, 28},
              pixels, gz);
  };
  auto expect_format = [&](const char* what) {
    CHECK_THAT(error_message<FormatError>([&] { (void)FashionMNIST(root, false); }), ContainsSubstring(what));
  };
  // A small valid split (uncompressed images, compressed labels) loads.
  images(false);
  write_idx(dir.path / "t10k-labels-idx1-ubyte.gz", {0, 0, 8, 1}, {3}, {1, 2, 3}, true);
  {
    const FashionMNIST ok(root, false);
    CHECK(ok.size() == 3);
    CHECK(ok.labels().to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
    CHECK(ok.get(2).data.to_vector<float>() == std::vector<float>(784, 1.0f));
  }
  write_idx(dir.path / "t10k-labels-idx1-ubyte.gz", {0, 0, 8, 1}, {3}, {1, 2, 10}, true);
  expect_format("label 10 at index 2");
  write_idx(dir.path / "t10k-labels-idx1-ubyte.gz", {0, 0, 8, 1}, {4}, {1, 2, 3, 4}, true);
  expect_format("holds 3 images");
  write_idx(dir.path / "t10k-labels-idx1-ubyte.gz", {0, 0, 8, 1}, {3}, {1, 2}, true);
  expect_format("is truncated");
  write_idx(dir.path / "t10k-labels-idx1-ubyte.gz", {0, 0, 8, 1}, {3}, {1, 2, 3, 4}, true);
  expect_format("has data past the 3 bytes");
  write_idx(dir.path / "t10k-labels-idx1-ubyte.gz", {0x1f, 0x8b, 8, 1}, {3}, {1, 2, 3}, true);
  expect_format("not an IDX file");
  write_idx(dir.path / "t10k-labels-idx1-ubyte.gz", {0, 0, 0x0D, 1}, {3}, {1, 2, 3}, true);
  expect_format("element type 0x0d");
  write_idx(dir.path / "t10k-labels-idx1-ubyte.gz", {0, 0, 8, 1}, {3}, {1, 2, 3}, true);
  write_idx(dir.path / "t10k-images-idx3-ubyte", {0, 0, 8, 2}, {3, 784}, pixels, false);
  expect_format("expected [N, 28, 28]");
  write_idx(dir.path / "t10k-images-idx3-ubyte", {0, 0, 8, 3}, {0xFFFFFFF0u, 28, 28}, {}, false);
  expect_format("implausible dim");

  // Damaged copies of the real compressed labels file: truncated, and with flipped bytes.
  images(false);
  const fs::path real = fs::path(std::string(kFashionMNISTRoot)) / "t10k-labels-idx1-ubyte.gz";
  std::ifstream in(real, std::ios::binary);
  std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(gz.size() > 1000);
  std::ofstream(dir.path / "t10k-labels-idx1-ubyte.gz", std::ios::binary).write(gz.data(), 2000);
  CHECK_THROWS_AS(read_idx_ubyte((dir.path / "t10k-labels-idx1-ubyte.gz").string()), FormatError);
  std::string flipped = gz;
  for (size_t k = 500; k < 520; ++k) flipped[k] = char(~flipped[k]);
  std::ofstream(dir.path / "t10k-labels-idx1-ubyte.gz", std::ios::binary)
      .write(flipped.data(), std::streamsize(flipped.size()));
  CHECK_THROWS_AS(read_idx_ubyte((dir.path / "t10k-labels-idx1-ubyte.gz").string()), FormatError);
  CHECK_THROWS_AS(read_idx_ubyte((dir.path / "absent").string()), ValueError);
}

}  // namespace
}  // namespace doppel::testing
