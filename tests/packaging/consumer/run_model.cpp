// Loads a .dpl model with the runtime alone (doppel::runtime: no eager layer) and prints the
// shape and the sum of its first output for float32 ones shaped like the first input
// (symbolic dimensions set to 2).
#include <cstdio>
#include <vector>

#include "doppel/runtime/model.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: run_model MODEL.dpl\n");
    return 2;
  }
  const doppel::runtime::Model model = doppel::runtime::Model::load(argv[1]);
  doppel::Shape shape;
  for (const doppel::runtime::DimSpec& d : model.signature().inputs.at(0).shape) shape.push_back(d.size >= 0 ? d.size : 2);
  doppel::Tensor x = doppel::make_tensor(shape, doppel::DType::Float32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data_ptr<float>()[i] = 1.0f;
  const doppel::Tensor out = doppel::contiguous_of(model.run({x})[0]);
  double sum = 0;
  for (int64_t i = 0; i < out.numel(); ++i) sum += out.data_ptr<float>()[i];
  std::printf("%s %.6f\n", doppel::shape_str(out.shape()).c_str(), sum);
}
