# Third-party packages. oneDNN 3.x (GNU OpenMP build) comes from the PyPI wheels
# onednn-cpu-gomp / onednn-devel-cpu-gomp: tools/setup.sh installs them into the project venv
# (the presets put .venv on CMAKE_PREFIX_PATH); a wheel build (pyproject.toml) has them as build
# requirements in its own environment. Either is found through the Python's package metadata.
find_package(fmt REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
# oneDNN: where the building Python's onednn-devel-cpu-gomp wheel put its CMake config (the
# project venv's, or a wheel build's isolated environment's), else the usual search.
if(NOT dnnl_DIR AND Python_EXECUTABLE)
  # The oneDNN wheels install dnnl-config.cmake as a data file: ask the Python's package metadata.
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.metadata as m, pathlib; d = m.distribution('onednn-devel-cpu-gomp'); \
print(next(pathlib.Path(d.locate_file(f)).resolve().parent for f in d.files if f.name in ('dnnl-config.cmake', 'dnnlConfig.cmake')))"
    OUTPUT_VARIABLE _doppel_dnnl_dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_doppel_dnnl_dir)
    set(dnnl_DIR ${_doppel_dnnl_dir} CACHE PATH "oneDNN's CMake config (from the building Python's oneDNN wheel)")
  endif()
endif()
find_package(dnnl 3 CONFIG QUIET)
if(NOT dnnl_FOUND)
  message(FATAL_ERROR "doppel needs oneDNN 3 (GNU OpenMP build): pip install onednn-devel-cpu-gomp==2023.2.0 "
                      "onednn-cpu-gomp==2023.2.0 into the Python on CMAKE_PREFIX_PATH (tools/setup.sh does), "
                      "or set dnnl_DIR")
endif()
# What doppel's targets link for fmt.
if(DOPPEL_FMT_HEADER_ONLY)
  set(DOPPEL_FMT_TARGET fmt::fmt-header-only)
else()
  set(DOPPEL_FMT_TARGET fmt::fmt)
endif()
# zlib: the Fashion-MNIST reader decodes the .gz IDX files directly (zlib1g-dev).
find_package(ZLIB REQUIRED)
# libprotobuf + protoc (libprotobuf-dev, protobuf-compiler) and libpng (libpng-dev): TensorBoard
# event files (tensorboard/). Shared: Debian's static archives are not PIC throughout (libpng's
# pngerror.o, libprotobuf's local-exec TLS), so the Python extension cannot carry them; the wheel
# ships libprotobuf.so.32 and libpng16.so.16 as it ships oneDNN (python_bindings/CMakeLists.txt).
if(DOPPEL_TENSORBOARD)
  find_package(Protobuf 3.21 REQUIRED)
  find_package(PNG REQUIRED)
endif()
if(DOPPEL_BUILD_TESTS)
  find_package(Catch2 3 REQUIRED)
endif()
