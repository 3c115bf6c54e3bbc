#pragma once
// PLACEHOLDER: replaced by the indexing op group.
#include "doppel/core/tensor.h"
