#pragma once
// PLACEHOLDER: replaced by the reduction op group.
#include "doppel/core/tensor.h"
