#pragma once
// PLACEHOLDER: replaced by the loss op group.
#include "doppel/core/tensor.h"
