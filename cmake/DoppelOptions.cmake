# Build options, warnings and tool integration shared by every doppel target.
include(CheckLanguage)

# The lean runtime build (serve/README.md "Lean runtime build"; preset runtime-lean): only what
# doppel-run and doppel-serve link — core, kernels (CPU), the profiler the executor records into,
# doppel_graph_runtime and serve/ — without eager, autograd, tracing, the passes, models, Python,
# TensorBoard, MPI, CUDA and Graphviz; fmt header-only; every function and data object in its
# own section so that the linker drops the unreferenced ones (--gc-sections), and the programs
# stripped. It forces the options below to what it needs.
option(DOPPEL_LEAN_RUNTIME "Build only doppel-run/doppel-serve and the runtime library, CPU-only and stripped" OFF)
if(DOPPEL_LEAN_RUNTIME)
  foreach(_doppel_off DOPPEL_BUILD_TESTS DOPPEL_BUILD_BENCH DOPPEL_BUILD_EXAMPLES DOPPEL_TENSORBOARD DOPPEL_PYTHON
                      DOPPEL_CUDA DOPPEL_DISTRIBUTED)
    set(${_doppel_off} OFF CACHE BOOL "off in the lean runtime build (DOPPEL_LEAN_RUNTIME)" FORCE)
  endforeach()
  set(DOPPEL_BUILD_SERVE ON CACHE BOOL "the lean runtime build's programs" FORCE)
  set(DOPPEL_FMT_HEADER_ONLY ON CACHE BOOL "no libfmt.so at run time" FORCE)
  add_compile_options(-ffunction-sections -fdata-sections)
  add_link_options(-Wl,--gc-sections -Wl,--strip-all)
endif()

# Built by default only when doppel is the top-level project: a consumer's add_subdirectory(doppel)
# gets the libraries (doppel::doppel, doppel::runtime) without our tests, benchmarks, examples,
# Python bindings or -Werror.
option(DOPPEL_BUILD_TESTS "Build the Catch2 test suite" ${PROJECT_IS_TOP_LEVEL})
option(DOPPEL_BUILD_BENCH "Build the benchmarks in bench/" ${PROJECT_IS_TOP_LEVEL})
option(DOPPEL_BUILD_EXAMPLES "Build examples/ and the developer tools in tools/" ${PROJECT_IS_TOP_LEVEL})
option(DOPPEL_BUILD_SERVE "Build doppel-run and doppel-serve (serve/)" ${PROJECT_IS_TOP_LEVEL})
option(DOPPEL_WERROR "Treat warnings in doppel's own code as errors" ${PROJECT_IS_TOP_LEVEL})
# fmt as a header-only library: the Python wheel and the shipped runtime then need no libfmt.so.
option(DOPPEL_FMT_HEADER_ONLY "Use fmt header-only (no libfmt.so at run time)" OFF)
# TensorBoard's SummaryWriter (tensorboard/): needs libprotobuf, protoc, libpng and a Python with the
# tensorboard package at build time; off only for builds that ship the runtime alone (Dockerfile).
option(DOPPEL_TENSORBOARD "Build doppel::tensorboard (TensorBoard event files)" ON)
option(DOPPEL_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)

# CUDA defaults to on where a toolkit is found. Only the runtime API is linked (never libcuda).
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND)
  set(_doppel_cuda_default ON)
else()
  set(_doppel_cuda_default OFF)
endif()
option(DOPPEL_CUDA "Build the CUDA backend (needs the CUDA toolkit)" ${_doppel_cuda_default})
if(DOPPEL_CUDA AND NOT CUDAToolkit_FOUND)
  message(FATAL_ERROR "DOPPEL_CUDA=ON but no CUDA toolkit was found; set CUDAToolkit_ROOT or pass -DDOPPEL_CUDA=OFF")
endif()
message(STATUS "doppel: CUDA backend ${DOPPEL_CUDA}")

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

if(DOPPEL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Warnings for doppel's own targets (third-party headers are included as SYSTEM).
function(doppel_warnings target)
  # -Wno-missing-field-initializers: designated initializers leave defaulted fields out on purpose.
  # -Wno-restrict: GCC 12 reports false positives inside std::string concatenation (GCC bug 105329).
  # C++ sources only: a target's .cu files get doppel_cuda_warnings (DoppelCuda.cmake).
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow=local
    -Wno-unused-parameter -Wno-restrict -Wno-missing-field-initializers>)
  if(DOPPEL_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()

# Python bindings default to on where the project venv's Python has nanobind (tools/setup.sh)
# and doppel is the top-level project.
if(NOT DEFINED Python_EXECUTABLE AND EXISTS ${PROJECT_SOURCE_DIR}/.venv/bin/python)
  set(Python_EXECUTABLE ${PROJECT_SOURCE_DIR}/.venv/bin/python)
endif()
set(_doppel_python_default OFF)
if(Python_EXECUTABLE AND PROJECT_IS_TOP_LEVEL)
  execute_process(COMMAND "${Python_EXECUTABLE}" -m nanobind --cmake_dir OUTPUT_VARIABLE _doppel_nb_dir
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _doppel_nb_rc ERROR_QUIET)
  if(_doppel_nb_rc EQUAL 0)
    set(_doppel_python_default ON)
    set(nanobind_DIR ${_doppel_nb_dir} CACHE PATH "nanobind's CMake config (from the venv)")
  endif()
endif()
option(DOPPEL_PYTHON "Build the nanobind Python bindings (python_bindings/)" ${_doppel_python_default})
if(DOPPEL_PYTHON AND NOT DOPPEL_TENSORBOARD)
  message(FATAL_ERROR "DOPPEL_PYTHON needs DOPPEL_TENSORBOARD (doppel.utils.tensorboard binds it)")
endif()
message(STATUS "doppel: Python bindings ${DOPPEL_PYTHON}")
# The venv's oneDNN is found without -DCMAKE_PREFIX_PATH too (e.g. `pip install python_bindings/`).
if(EXISTS ${PROJECT_SOURCE_DIR}/.venv/lib/cmake/dnnl)
  list(APPEND CMAKE_PREFIX_PATH ${PROJECT_SOURCE_DIR}/.venv)
endif()
