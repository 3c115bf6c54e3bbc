#pragma once
// PLACEHOLDER: replaced by the elementwise op group.
#include "doppel/core/tensor.h"
