#pragma once
// Attribute positions of the factory ops (shared by their definitions, kernels and the eager API).
#include <cstddef>

namespace doppel::factory_attrs {
enum : size_t { kFullShape, kFullValue, kFullDType, kFullDevice };
enum : size_t { kArangeStart, kArangeEnd, kArangeStep, kArangeDType, kArangeDevice };
enum : size_t { kLinspaceStart, kLinspaceEnd, kLinspaceSteps, kLinspaceDType, kLinspaceDevice };
enum : size_t { kEyeN, kEyeM, kEyeDType, kEyeDevice };
// uniform(a=low, b=high), normal(a=mean, b=std), randint(a=low, b=high, exclusive)
enum : size_t { kRandShape, kRandA, kRandB, kRandDType, kRandDevice, kRandSeed, kRandOffset };
}  // namespace doppel::factory_attrs
