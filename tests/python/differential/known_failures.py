"""Differential cases that fail today and are not issue 12's numbered items (those are marked
where their cases are written): discrepancies found by this suite, each an xfail(strict) so that
a fix turns the suite red until its entry is removed. Keyed by the Suite's name, then case id.
tests/python/differential/README.md describes each finding with torch's and doppel's values."""

ELU_GRAD_NAN = ("found by h6, kept by h7: at a NaN input torch 1.13's elu gradient is NaN in its vectorized loop "
                "and the incoming gradient in its scalar loop (strided inputs, the last numel mod 16 float32 "
                "elements); doppel gives NaN everywhere")
HARDTANH_GRAD_NAN = ("found by h9: at a NaN input torch 1.13's hardtanh/relu6 gradient is 0 in its vectorized loop and the "
                     "incoming gradient in its scalar loop (15 elements, strided inputs); doppel gives 0 everywhere")
SELU_GRAD_NAN = "found by h9: selu's gradient at a NaN input, as ELU_GRAD_NAN (torch's scalar loop 0.3228, doppel NaN)"
HARDSWISH_GRAD_NAN = ("found by h9: hardswish's gradient at a NaN input: torch 1.13 NaN in its vectorized loop (4095/4096 "
                      "float32 elements, float64) and the incoming gradient in its scalar loop; doppel the incoming "
                      "gradient (0.307) everywhere")
HARDSIGMOID_F64 = ("found by h9: float64 hardsigmoid gradient off by 3e-8 relative (-0.0059361997009 vs -0.0059361995240): "
                   "doppel's backward uses 1/6 rounded to float32")
FMOD_DENORMAL = ("found by h9: float32 fmod/remainder/floor_divide/div(rounding_mode='floor') by a denormal divisor "
                 "(1e-40): torch 1.13 NaN, doppel the IEEE value (9.07e-41; x // 1e-40 = inf)")
DIV_TRUNC_GRAD = ("found by h9: div(rounding_mode='trunc')'s gradient is 0 in torch everywhere; doppel NaN where an "
                  "operand is NaN/inf or the divisor 0 (div(rounding_mode='floor') gives 0)")
CLAMP_NAN_BOUND = ("found by h9: clamp(x, min=NaN, max=tensor): the output is NaN; torch still gives the max bound the "
                   "gradient where x > max (-0.5337 summed), doppel 0")
BCE_TARGET_GRAD = ("found by h9: binary_cross_entropy's target gradient at a saturated input (sigmoid(100 x) = 0 or 1): "
                   "torch log(1-x) - log(x) unclamped (+-inf; 6.345 in float64), doppel clamps each log at -100 (-6.164; 4.705); "
                   "float32 also the summed loss: torch 555.4618, doppel 555.44006")
SCATTER_REDUCE = "found by h9: Tensor.scatter_(dim, index, src, reduce='add'|'multiply'): doppel raises TypeError"
INDEX_PUT_ACCUMULATE = "found by h9: Tensor.index_put_(indices, values, accumulate=True): doppel raises TypeError"

KNOWN = {
    "elementwise": {
        "elu-f32-small": ELU_GRAD_NAN, "elu-f32-transposed": ELU_GRAD_NAN,
        **{f"{op}-f32-{v}": HARDTANH_GRAD_NAN for op in ("hardtanh", "hardtanh-bounds", "relu6") for v in ("small", "transposed")},
        "selu-f32-small": SELU_GRAD_NAN, "selu-f32-transposed": SELU_GRAD_NAN,
        "hardswish-f32-below": HARDSWISH_GRAD_NAN, "hardswish-f32-at": HARDSWISH_GRAD_NAN, "hardswish-f64": HARDSWISH_GRAD_NAN,
        "hardsigmoid-f64": HARDSIGMOID_F64,
        **{f"{op}-{v}": FMOD_DENORMAL for op in ("fmod", "remainder", "op_mod", "floor_divide", "op_floordiv", "div_floor")
           for v in ("f32-bcast_at", "f32-bcast_at-swapped", "int-float")},
        "mod-rscalar-float": FMOD_DENORMAL,
        **{f"div_trunc-{v}": DIV_TRUNC_GRAD for v in ("f32-small", "f32-below", "f32-at", "f32-bcast_small", "f32-bcast_small-swapped",
                                                     "f32-bcast_at", "f32-bcast_at-swapped", "f32-transposed", "f64")},
        "clamp-tensor-bounds-nan-crossed": CLAMP_NAN_BOUND,
    },
    "nn_ops": {
        "binary_cross_entropy-sum-saturated": BCE_TARGET_GRAD, "binary_cross_entropy-sum-saturated-f64": BCE_TARGET_GRAD,
        "inplace-hardsigmoid": HARDSIGMOID_F64,
    },
    "shape_index": {"scatter_-reduce-add": SCATTER_REDUCE, "scatter_-reduce-multiply": SCATTER_REDUCE,
                    "setitem-index_put_-accumulate": INDEX_PUT_ACCUMULATE},
    "modules_optim": {"Hardsigmoid": HARDSIGMOID_F64},
    "reductions": {
    },
}
