// doppel._C._distributed: process groups and collectives (distributed/), behind the Python
// package doppel.distributed. Groups cross as their ids, reduce ops as ints (ReduceOp's values);
// blocking calls release the GIL (the communication thread never needs it).
#include "bind.h"
#include "doppel/distributed/collectives.h"
#include "doppel/distributed/reducer.h"

namespace doppel::py {
namespace {

namespace dist = distributed;
using dist::Group;
using dist::ReduceOp;

ReduceOp reduce_op(int64_t op) {
  DOPPEL_CHECK(op >= 0 && op < kernels::kNumReduceOps, "ReduceOp: unknown op {}; use ReduceOp.SUM/AVG/MAX/MIN", op);
  return ReduceOp(op);
}

}  // namespace

void bind_distributed(nb::module_& m) {
  nb::module_ d = m.def_submodule("_distributed", "The C++ process groups and collectives behind doppel.distributed.");
  nb::class_<dist::Work>(d, "Work", "The handle of an asynchronous collective (async_op=True).")
      .def(
          "wait",
          [](const dist::Work& w) {
            w.wait();
            return true;
          },
          nb::call_guard<nb::gil_scoped_release>(),
          "Blocks until the collective finished; raises its error. Returns True, as PyTorch's.")
      .def("is_completed", &dist::Work::is_completed);

  d.def(
      "init_process_group",
      [](const std::string& backend, std::optional<int> rank, std::optional<int> world_size,
         std::optional<double> timeout_s, std::optional<bool> check_shapes) {
        dist::InitOptions o{.backend = backend, .rank = rank, .world_size = world_size, .check_shapes = check_shapes};
        if (timeout_s) o.timeout = std::chrono::milliseconds(int64_t(*timeout_s * 1000));
        dist::init_process_group(o);
      },
      nb::arg("backend"), nb::arg("rank").none(), nb::arg("world_size").none(), nb::arg("timeout").none(),
      nb::arg("check_shapes").none(), nb::call_guard<nb::gil_scoped_release>());
  d.def("destroy_process_group", &dist::destroy_process_group, nb::call_guard<nb::gil_scoped_release>());
  d.def("is_initialized", &dist::is_initialized);
  d.def("get_backend", &dist::get_backend);
  d.def("get_rank", [](int64_t g) { return dist::get_rank(Group(g)); });
  d.def("get_world_size", [](int64_t g) { return dist::get_world_size(Group(g)); });
  d.def("get_local_rank", &dist::get_local_rank);
  d.def("timeout", [] { return double(dist::timeout().count()) / 1000; });
  d.def(
      "new_group", [](std::vector<int> ranks) { return dist::new_group(std::move(ranks)).id(); },
      nb::call_guard<nb::gil_scoped_release>());
  d.def("group_ranks", [](int64_t g) { return Group(g).ranks(); });
  d.def(
      "barrier", [](int64_t g) { dist::barrier(Group(g)); }, nb::call_guard<nb::gil_scoped_release>());
  d.def("abort_job", &dist::abort_job, nb::arg("message"), nb::arg("exit_code") = 1);

  // DistributedDataParallel's reducer (doppel.nn.parallel wraps a Python module around it).
  nb::class_<dist::Reducer>(d, "Reducer", "Bucketed asynchronous gradient averaging (doppel/distributed/reducer.h).")
      .def(
          "__init__",
          [](dist::Reducer* self, std::vector<Tensor> params, std::vector<std::string> names, double bucket_cap_mb,
             bool find_unused_parameters, int64_t g) {
            new (self) dist::Reducer(
                std::move(params), std::move(names),
                {.bucket_cap_mb = bucket_cap_mb, .find_unused_parameters = find_unused_parameters, .group = Group(g)});
          },
          nb::arg("params"), nb::arg("names"), nb::arg("bucket_cap_mb"), nb::arg("find_unused_parameters"),
          nb::arg("group"))
      .def("prepare_for_backward", &dist::Reducer::prepare_for_backward, nb::call_guard<nb::gil_scoped_release>())
      .def_prop_ro("buckets", &dist::Reducer::buckets);
  d.def(
      "compute_bucket_assignment_by_size",
      [](const std::vector<int64_t>& bytes, const std::vector<DType>& dtypes, const std::vector<int64_t>& limits) {
        return dist::compute_bucket_assignment_by_size(bytes, dtypes, limits);
      },
      nb::arg("bytes"), nb::arg("dtypes"), nb::arg("limits"));

  d.def(
      "all_reduce",
      [](const Tensor& t, int64_t op, int64_t g, bool async_op) {
        return dist::all_reduce(t, reduce_op(op), Group(g), async_op);
      },
      Release());
  d.def(
      "broadcast",
      [](const Tensor& t, int src, int64_t g, bool async_op) { return dist::broadcast(t, src, Group(g), async_op); },
      Release());
  d.def(
      "all_gather",
      [](const std::vector<Tensor>& outs, const Tensor& t, int64_t g, bool async_op) {
        return dist::all_gather(outs, t, Group(g), async_op);
      },
      Release());
  d.def(
      "all_gather_into_tensor",
      [](const Tensor& out, const Tensor& t, int64_t g, bool async_op) {
        return dist::all_gather_into_tensor(out, t, Group(g), async_op);
      },
      Release());
  d.def(
      "reduce_scatter_tensor",
      [](const Tensor& out, const Tensor& t, int64_t op, int64_t g, bool async_op) {
        return dist::reduce_scatter_tensor(out, t, reduce_op(op), Group(g), async_op);
      },
      Release());
  d.def(
      "all_to_all_single",
      [](const Tensor& out, const Tensor& t, int64_t g, bool async_op) {
        return dist::all_to_all_single(out, t, Group(g), async_op);
      },
      Release());

  // torch.distributed.nn.functional: differentiable, out of place.
  d.def(
      "functional_all_reduce",
      [](const Tensor& t, int64_t op, int64_t g) { return dist::functional::all_reduce(t, reduce_op(op), Group(g)); },
      Release());
  d.def(
      "functional_broadcast",
      [](const Tensor& t, int src, int64_t g) { return dist::functional::broadcast(t, src, Group(g)); }, Release());
  d.def(
      "functional_all_gather", [](const Tensor& t, int64_t g) { return dist::functional::all_gather(t, Group(g)); },
      Release());
  d.def(
      "functional_reduce_scatter_tensor",
      [](const Tensor& t, int64_t op, int64_t g) {
        return dist::functional::reduce_scatter_tensor(t, reduce_op(op), Group(g));
      },
      Release());
  d.def(
      "functional_all_to_all_single",
      [](const Tensor& t, int64_t g) { return dist::functional::all_to_all_single(t, Group(g)); }, Release());
}

}  // namespace doppel::py
