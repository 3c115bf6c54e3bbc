#pragma once
// PLACEHOLDER: replaced by the linalg op group.
#include "doppel/core/tensor.h"
