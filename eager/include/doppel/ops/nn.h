#pragma once
// PLACEHOLDER: replaced by the nn op group.
#include "doppel/core/tensor.h"
