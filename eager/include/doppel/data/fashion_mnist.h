#pragma once
// Fashion-MNIST (Xiao et al. 2017): 28x28 grayscale images of 10 clothing classes, 60000 for
// training and 10000 for testing, read from the IDX files of Debian's dataset-fashion-mnist
// package (gzip-compressed or not). The whole split is decoded at construction into one tensor;
// get() returns views into it.
#include <array>
#include <string>
#include <string_view>

#include "doppel/data/dataset.h"

namespace doppel::data {

inline constexpr std::string_view kFashionMNISTRoot = "/usr/share/datasets/fashion-mnist";

class FashionMNIST : public Dataset {
 public:
  // Reads <root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. A missing file is a
  // ValueError saying how to install the data; a corrupt one a FormatError naming the file.
  explicit FashionMNIST(const std::string& root = std::string(kFashionMNISTRoot), bool train = true);

  size_t size() const override;
  // data: float32 [1, 28, 28] in [0, 1]; target: int64 0-d label in [0, 10).
  Example get(size_t i) const override;

  const Tensor& images() const { return images_; }  // float32 [N, 1, 28, 28]
  const Tensor& labels() const { return labels_; }  // int64 [N]
  static const std::array<std::string_view, 10>& class_names();

 private:
  Tensor images_, labels_;
};

// Reads one IDX file of unsigned bytes (element type 0x08), gzip-compressed or plain, into a
// uint8 tensor of the shape its header gives. Validates the magic number, the dims and the
// exact data length (truncated or trailing data is a FormatError).
Tensor read_idx_ubyte(const std::string& path);

}  // namespace doppel::data
