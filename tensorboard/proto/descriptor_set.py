"""Writes the FileDescriptorSet of the TensorBoard protos that doppel's event writer encodes.

The tensorboard PyPI package ships its .proto files compiled into *_pb2 modules (each holds its
file's serialized FileDescriptorProto), not as .proto text. This script imports those modules
and writes their descriptors, with every file they import, dependencies first, into one
FileDescriptorSet; protoc --descriptor_set_in generates the C++ classes from it
(tensorboard/CMakeLists.txt).

    python descriptor_set.py OUT.pb    prints the tensorboard/*.proto names to generate, one a line
"""
import importlib
import sys

from google.protobuf import descriptor_pb2

MODULES = [
    "tensorboard.compat.proto.event_pb2",
    "tensorboard.compat.proto.summary_pb2",
    "tensorboard.compat.proto.graph_pb2",
    "tensorboard.plugins.hparams.plugin_data_pb2",
    "tensorboard.plugins.text.plugin_data_pb2",
    "tensorboard.plugins.projector.projector_config_pb2",
]


def main(out_path):
    files, seen = [], set()

    def visit(fd):
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        files.append(descriptor_pb2.FileDescriptorProto.FromString(fd.serialized_pb))

    for name in MODULES:
        visit(importlib.import_module(name).DESCRIPTOR)
    with open(out_path, "wb") as f:
        f.write(descriptor_pb2.FileDescriptorSet(file=files).SerializeToString())
    for fd in files:
        if fd.name.startswith("tensorboard/"):
            print(fd.name)


if __name__ == "__main__":
    main(sys.argv[1])
