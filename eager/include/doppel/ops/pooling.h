#pragma once
// PLACEHOLDER: replaced by the pooling op group.
#include "doppel/core/tensor.h"
