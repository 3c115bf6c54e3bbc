# Third-party packages. oneDNN 3.x (GNU OpenMP build) comes from the PyPI wheels
# onednn-cpu-gomp / onednn-devel-cpu-gomp: tools/setup.sh installs them into the project venv
# (the presets put .venv on CMAKE_PREFIX_PATH); a wheel build (pyproject.toml) has them as build
# requirements in its own environment, found below through the Python that runs the build.
find_package(fmt REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(dnnl 3 CONFIG QUIET)
if(NOT dnnl_FOUND AND Python_EXECUTABLE)
  # The oneDNN wheels install dnnlConfig.cmake as a data file: ask the Python's package metadata.
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.metadata as m, pathlib; d = m.distribution('onednn-devel-cpu-gomp'); \
print(next(pathlib.Path(d.locate_file(f)).resolve().parent for f in d.files if f.name == 'dnnlConfig.cmake'))"
    OUTPUT_VARIABLE _doppel_dnnl_dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_doppel_dnnl_dir)
    find_package(dnnl 3 CONFIG REQUIRED HINTS ${_doppel_dnnl_dir} NO_DEFAULT_PATH)
  endif()
endif()
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
if(DOPPEL_BUILD_TESTS)
  find_package(Catch2 3 REQUIRED)
endif()
