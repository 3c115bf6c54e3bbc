// doppel.utils.data's C++ parts: the index lists of DistributedSampler (PyTorch's shuffle, shard
// and padding; eager/include/doppel/data/distributed_sampler.h). No process group is needed:
// the Python class passes rank and world size.
#include "bind.h"
#include "doppel/data/distributed_sampler.h"

namespace doppel::py {

void bind_data(nb::module_& m) {
  m.def(
      "distributed_sampler_indices",
      [](size_t n, int64_t num_replicas, int64_t rank, bool shuffle, uint64_t seed, uint64_t epoch, bool drop_last) {
        data::DistributedSampler s(
            n, {.num_replicas = num_replicas, .rank = rank, .shuffle = shuffle, .seed = seed, .drop_last = drop_last});
        s.set_epoch(epoch);
        return s.indices();
      },
      nb::arg("n"), nb::arg("num_replicas"), nb::arg("rank"), nb::arg("shuffle"), nb::arg("seed"), nb::arg("epoch"),
      nb::arg("drop_last"), "The indices of rank `rank` (doppel::data::DistributedSampler).");
}

}  // namespace doppel::py
