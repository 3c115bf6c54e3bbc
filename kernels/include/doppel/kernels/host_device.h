#pragma once
// DOPPEL_HD marks the shared scalar math (cpu/elementwise_math.h, philox.h and the like) as
// callable from both host and device code: `__host__ __device__` under nvcc, nothing otherwise.
#ifndef DOPPEL_HD
#if defined(__CUDACC__)
#define DOPPEL_HD __host__ __device__
#else
#define DOPPEL_HD
#endif
#endif
