// add_image / add_images' summary: the image as PyTorch lays it out and converts it, as a PNG.
#include "pixels.h"
#include "summaries.h"

namespace doppel::tensorboard::detail {

tbp::Summary image_summary(const std::string& tag, const Tensor& img, const std::string& dataformats,
                           const char* what) {
  const Pixels out = image_pixels(img, dataformats, what, 8, {});
  std::string png = encode_png(out, what);
  tbp::Summary s;
  tbp::Summary::Value* v = s.add_value();
  v->set_tag(tag);
  tbp::Summary::Image* im = v->mutable_image();
  im->set_height(int32_t(out.h));
  im->set_width(int32_t(out.w));
  im->set_colorspace(int32_t(out.c));
  im->set_encoded_image_string(std::move(png));
  return s;
}

}  // namespace doppel::tensorboard::detail
