# The CUDA language and libraries of the CUDA backend (DOPPEL_CUDA=ON). Device code is built for
# sm_90 (Hopper) as SASS plus compute_90 PTX, which the driver JIT-compiles on newer GPUs;
# override with -DCMAKE_CUDA_ARCHITECTURES=... . Only the runtime API is linked, never libcuda.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90)
endif()
if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS ${CUDAToolkit_BIN_DIR}/nvcc)
  set(CMAKE_CUDA_COMPILER ${CUDAToolkit_BIN_DIR}/nvcc)
endif()
set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER})
enable_language(CUDA)
# C++20 like the rest; CMake 3.25 does not know nvcc's C++20 flag yet, so it is taught here.
set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION -std=c++20)
set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION -std=c++20)
set(CMAKE_CUDA_STANDARD_COMPUTED_DEFAULT 17)
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)

# cuDNN ships inside the toolkit's folders here; CMake has no find module for it.
find_path(DOPPEL_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} REQUIRED)
find_library(DOPPEL_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} REQUIRED)
add_library(doppel_cudnn INTERFACE)
target_include_directories(doppel_cudnn SYSTEM INTERFACE ${DOPPEL_CUDNN_INCLUDE_DIR})
target_link_libraries(doppel_cudnn INTERFACE ${DOPPEL_CUDNN_LIBRARY})
message(STATUS "doppel: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}, cuDNN "
               "${DOPPEL_CUDNN_LIBRARY}")

# Warnings for doppel's CUDA sources: nvcc's own and the host compiler's, errors with DOPPEL_WERROR.
function(doppel_cuda_warnings target)
  if(DOPPEL_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings>)
  endif()
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wno-unused-parameter,-Wno-missing-field-initializers>)
  if(DOPPEL_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Werror>)
  endif()
endfunction()
