#pragma once
// doppel::optim: optimizers, learning-rate schedulers and gradient clipping. Include this header.
#include "doppel/optim/adadelta.h"
#include "doppel/optim/adagrad.h"
#include "doppel/optim/adam.h"
#include "doppel/optim/clip_grad.h"
#include "doppel/optim/grad_scaler.h"
#include "doppel/optim/lr_scheduler.h"
#include "doppel/optim/optimizer.h"
#include "doppel/optim/rmsprop.h"
#include "doppel/optim/sgd.h"
