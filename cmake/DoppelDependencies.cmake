# Third-party packages. oneDNN 3.x (GNU OpenMP build) comes from the project venv's
# onednn-cpu-gomp / onednn-devel-cpu-gomp wheels: tools/setup.sh installs them and the presets
# put .venv on CMAKE_PREFIX_PATH.
find_package(fmt REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(dnnl 3 CONFIG REQUIRED)
# zlib: the Fashion-MNIST reader decodes the .gz IDX files directly (zlib1g-dev).
find_package(ZLIB REQUIRED)
if(DOPPEL_BUILD_TESTS)
  find_package(Catch2 3 REQUIRED)
endif()
