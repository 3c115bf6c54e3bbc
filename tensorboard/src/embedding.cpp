// add_embedding: the projector plugin's files (tensors.tsv, metadata.tsv, sprite.png and the
// run's projector_config.pbtxt), as PyTorch's SummaryWriter.add_embedding.
#include "embedding.h"

#include <fmt/format.h>
#include <google/protobuf/text_format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "doppel/core/error.h"
#include "pixels.h"

namespace doppel::tensorboard::detail {

namespace {

namespace fs = std::filesystem;

// Python's str() of a float: the shortest round trip, with ".0" on integral values.
std::string python_float(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";  // not 1e+16, inf, nan
  return s;
}

// tensors.tsv: a line per row, the values as Python's str(x.item()) writes them.
std::string tensors_tsv(const Tensor& mat) {
  if (mat.dim() != 2)
    throw ShapeError(
        fmt::format("add_embedding: mat must be a matrix [points, dimensions], got shape {}", shape_str(mat.shape())));
  const bool floating = is_floating(mat.dtype());
  const Tensor m = mat.detach().to(kCPU, floating ? DType::Float64 : DType::Int64).contiguous();
  std::string out;
  for (int64_t r = 0; r < m.shape()[0]; ++r) {
    for (int64_t c = 0; c < m.shape()[1]; ++c) {
      const int64_t i = r * m.shape()[1] + c;
      if (c) out += '\t';
      if (floating) {
        out += python_float(m.data_ptr<double>()[i]);
      } else if (mat.dtype() == DType::Bool) {
        out += m.data_ptr<int64_t>()[i] ? "True" : "False";
      } else {
        out += fmt::format("{}", m.data_ptr<int64_t>()[i]);
      }
    }
    out += '\n';
  }
  return out;
}

// metadata.tsv: the header (if any), then a line per point, columns joined by tabs.
std::string metadata_tsv(const EmbeddingMetadata& metadata, int64_t points) {
  const size_t columns = metadata.header.empty() ? 1 : metadata.header.size();
  if (int64_t(metadata.rows.size()) != points)
    throw ValueError(fmt::format("add_embedding: {} metadata rows for {} points; pass one per row of mat",
                                 metadata.rows.size(), points));
  std::string out = metadata.header.empty() ? "" : fmt::format("{}\n", fmt::join(metadata.header, "\t"));
  for (const auto& row : metadata.rows) {
    if (row.size() != columns)
      throw ValueError(fmt::format("add_embedding: a metadata row has {} columns, the header {}", row.size(), columns));
    out += fmt::format("{}\n", fmt::join(row, "\t"));
  }
  return out;
}

// sprite.png: the images in a square grid of ceil(sqrt(N)) per row, padded to a square, each
// value * 255 (whatever the dtype, as PyTorch's make_sprite).
std::string sprite_png(const Tensor& label_img) {
  if (label_img.dim() != 4)
    throw ShapeError(fmt::format("add_embedding: label_img must be images [N, C, H, W], got shape {}",
                                 shape_str(label_img.shape())));
  const auto per_row = int64_t(std::ceil(std::sqrt(double(label_img.shape()[0]))));
  const Pixels grid = image_pixels(label_img, "NCHW", "add_embedding", per_row, 255.0f);
  if (grid.h > grid.w)
    throw ShapeError(fmt::format("add_embedding: label_img of shape {} makes a sprite taller ({}) than wide ({})",
                                 shape_str(label_img.shape()), grid.h, grid.w));
  Pixels square{grid.w, grid.w, grid.c, grid.data};
  square.data.resize(size_t(square.h * square.w * square.c), 0);
  return encode_png(square, "add_embedding");
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out) throw ValueError(fmt::format("add_embedding: cannot write '{}': {}", path.string(), std::strerror(errno)));
}

// PyTorch's SummaryWriter._encode: %, / and \ as %25, %2f, %5c.
std::string encode_tag(const std::string& tag) {
  std::string out;
  for (const char c : tag) out += c == '%' ? "%25" : c == '/' ? "%2f" : c == '\\' ? "%5c" : std::string(1, c);
  return out;
}

}  // namespace

void write_embedding(const std::string& log_dir, ::tensorboard::projector::ProjectorConfig& config, const Tensor& mat,
                     const std::optional<EmbeddingMetadata>& metadata, const std::optional<Tensor>& label_img,
                     int64_t step, const std::string& tag) {
  const std::string subdir = fmt::format("{:05d}/{}", step, encode_tag(tag));
  const std::string tensors = tensors_tsv(mat);
  const std::string meta = metadata ? metadata_tsv(*metadata, mat.shape()[0]) : "";
  const std::string sprite = label_img ? sprite_png(*label_img) : "";

  const fs::path dir = fs::path(log_dir) / subdir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw ValueError(fmt::format("add_embedding: cannot create the folder '{}': {}", dir.string(), ec.message()));
  write_file(dir / "tensors.tsv", tensors);
  ::tensorboard::projector::EmbeddingInfo* info = config.add_embeddings();
  info->set_tensor_name(fmt::format("{}:{:05d}", tag, step));
  info->set_tensor_path(subdir + "/tensors.tsv");
  if (metadata) {
    write_file(dir / "metadata.tsv", meta);
    info->set_metadata_path(subdir + "/metadata.tsv");
  }
  if (label_img) {
    write_file(dir / "sprite.png", sprite);
    info->mutable_sprite()->set_image_path(subdir + "/sprite.png");
    info->mutable_sprite()->add_single_image_dim(uint32_t(label_img->shape()[3]));
    info->mutable_sprite()->add_single_image_dim(uint32_t(label_img->shape()[2]));
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(config, &text);
  write_file(fs::path(log_dir) / "projector_config.pbtxt", text);
}

}  // namespace doppel::tensorboard::detail
