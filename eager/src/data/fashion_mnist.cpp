#include "doppel/data/fashion_mnist.h"

#include <zlib.h>

#include <filesystem>

#include "doppel/kernels/parallel.h"

namespace doppel::data {

namespace {

// Reads up to `n` bytes; returns how many were read (less only at end of data).
size_t gz_read_fully(gzFile f, const std::string& path, void* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = unsigned(std::min<size_t>(n - done, size_t(1) << 30));
    const int r = gzread(f, static_cast<char*>(dst) + done, chunk);
    if (r < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      throw FormatError(fmt::format("read_idx_ubyte: '{}' is corrupt: {}", path, msg ? msg : "zlib error"));
    }
    if (r == 0) break;
    done += size_t(r);
  }
  // gzread returns a short count on a truncated stream and only reports the error afterwards.
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  if (err != Z_OK && err != Z_STREAM_END)
    throw FormatError(fmt::format("read_idx_ubyte: '{}' is corrupt: {}", path, msg ? msg : "zlib error"));
  return done;
}

std::string resolve(const std::string& root, const std::string& name) {
  namespace fs = std::filesystem;
  for (const std::string& candidate : {root + "/" + name + ".gz", root + "/" + name})
    if (fs::exists(candidate)) return candidate;
  throw ValueError(fmt::format(
      "FashionMNIST: neither '{0}/{1}.gz' nor '{0}/{1}' exists; install Debian's dataset-fashion-mnist package "
      "(tools/setup.sh does) or pass the directory holding the IDX files as `root`",
      root, name));
}

}  // namespace

Tensor read_idx_ubyte(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files transparently too
  if (!f) throw ValueError(fmt::format("read_idx_ubyte: cannot open '{}'", path));
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{f};
  gzbuffer(f, 1 << 20);

  uint8_t magic[4];
  if (gz_read_fully(f, path, magic, 4) != 4)
    throw FormatError(fmt::format("read_idx_ubyte: '{}' is too short for an IDX header", path));
  if (magic[0] != 0 || magic[1] != 0)
    throw FormatError(fmt::format("read_idx_ubyte: '{}' is not an IDX file (magic {:02x}{:02x}{:02x}{:02x})", path,
                                  magic[0], magic[1], magic[2], magic[3]));
  if (magic[2] != 0x08)
    throw FormatError(
        fmt::format("read_idx_ubyte: '{}' has IDX element type 0x{:02x}; only unsigned bytes (0x08) "
                    "are supported",
                    path, magic[2]));
  const int ndim = magic[3];
  if (ndim < 1 || ndim > 4)
    throw FormatError(fmt::format("read_idx_ubyte: '{}' claims {} dims (expected 1 to 4)", path, ndim));
  Shape shape;
  uint64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    uint8_t b[4];
    if (gz_read_fully(f, path, b, 4) != 4)
      throw FormatError(fmt::format("read_idx_ubyte: '{}' is truncated inside its header", path));
    const uint32_t n = uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
    if (n > uint32_t(INT32_MAX))
      throw FormatError(fmt::format("read_idx_ubyte: '{}' has an implausible dim {} = {}", path, d, n));
    total *= n;
    // A corrupt header must not make us allocate absurd amounts before noticing the truncation.
    if (total > (uint64_t(1) << 34))
      throw FormatError(fmt::format("read_idx_ubyte: '{}' claims more than 16 GiB of data", path));
    shape.push_back(int64_t(n));
  }
  Tensor t = make_tensor(shape, DType::UInt8);
  const size_t got = gz_read_fully(f, path, t.raw_data(), total);
  if (got != total)
    throw FormatError(fmt::format("read_idx_ubyte: '{}' is truncated: its header {} needs {} bytes of data, found {}",
                                  path, shape_str(shape), total, got));
  uint8_t extra;
  if (gz_read_fully(f, path, &extra, 1) != 0)
    throw FormatError(fmt::format("read_idx_ubyte: '{}' has data past the {} bytes its header {} describes", path,
                                  total, shape_str(shape)));
  return t;
}

FashionMNIST::FashionMNIST(const std::string& root, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string image_path = resolve(root, prefix + "-images-idx3-ubyte");
  const std::string label_path = resolve(root, prefix + "-labels-idx1-ubyte");
  const Tensor raw_images = read_idx_ubyte(image_path);
  const Tensor raw_labels = read_idx_ubyte(label_path);
  if (raw_images.dim() != 3 || raw_images.size(1) != 28 || raw_images.size(2) != 28)
    throw FormatError(fmt::format("FashionMNIST: '{}' holds {} images; expected [N, 28, 28]", image_path,
                                  shape_str(raw_images.shape())));
  if (raw_labels.dim() != 1 || raw_labels.size(0) != raw_images.size(0))
    throw FormatError(fmt::format("FashionMNIST: '{}' holds labels {} but '{}' holds {} images", label_path,
                                  shape_str(raw_labels.shape()), image_path, raw_images.size(0)));
  const int64_t n = raw_images.size(0);
  images_ = make_tensor({n, 1, 28, 28}, DType::Float32);
  labels_ = make_tensor({n}, DType::Int64);
  const uint8_t* src = raw_images.data_ptr<uint8_t>();
  float* dst = images_.data_ptr<float>();
  parallel_for(0, n * 784, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) dst[k] = float(src[k]) * (1.0f / 255.0f);
  });
  const uint8_t* ls = raw_labels.data_ptr<uint8_t>();
  int64_t* ld = labels_.data_ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k) {
    if (ls[k] >= 10)
      throw FormatError(
          fmt::format("FashionMNIST: '{}' has label {} at index {}; labels must be in [0, 10)", label_path, ls[k], k));
    ld[k] = ls[k];
  }
}

size_t FashionMNIST::size() const { return size_t(labels_.size(0)); }

Example FashionMNIST::get(size_t i) const {
  DOPPEL_CHECK_INDEX(i < size(), "FashionMNIST: index {} is out of range for {} examples", i, size());
  return {row_view(images_, int64_t(i)), row_view(labels_, int64_t(i))};
}

const std::array<std::string_view, 10>& FashionMNIST::class_names() {
  static constexpr std::array<std::string_view, 10> kNames = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  return kNames;
}

}  // namespace doppel::data
