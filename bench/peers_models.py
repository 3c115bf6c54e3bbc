"""The models of bench/peers_bench.py, the same layers and shapes on every side.

doppel and PyTorch share one definition (their nn APIs are the same; `lib` is the module):
  mlp:      Flatten, Linear(784,512), ReLU, Linear(512,512), ReLU, Linear(512,10)  (bench/doppel_models.h)
  cnn:      Conv2d(1,32,3,pad 1), ReLU, MaxPool2d(2), Conv2d(32,64,3,pad 1), ReLU, MaxPool2d(2),
            Flatten, Linear(3136,128), ReLU, Dropout(0.25), Linear(128,10)          (bench/doppel_models.h)
  resnet18: torchvision's resnet18 layout (BasicBlock [2,2,2,2], 64-512 channels, 1000 classes)
            written out here, so that no side needs torchvision.
JAX gets functional equivalents (NHWC, its preferred layout on CPU) with their own parameters;
timings do not depend on the weights' values.
"""


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def cnn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def resnet18(lib):
    nn = lib.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            h = self.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return self.relu(h + (x if self.downsample is None else self.downsample(x)))

    layers = [nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, stride=2, padding=1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers)


MODELS = {"mlp": mlp, "cnn": cnn, "resnet18": resnet18}

# Input shape per model (NCHW; JAX gets the NHWC transpose) and number of classes.
INPUT = {"mlp": (1, 28, 28), "cnn": (1, 28, 28), "resnet18": (3, 224, 224)}


# --- JAX ------------------------------------------------------------------------------------------

def jax_model(name, key):
    """(params, apply(params, x_nhwc, train, key) -> logits) for the model `name`."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    keys = iter(jax.random.split(key, 64))

    def dense(fan_in, fan_out):
        bound = 1.0 / fan_in ** 0.5
        return {"w": jax.random.uniform(next(keys), (fan_in, fan_out), jnp.float32, -bound, bound),
                "b": jax.random.uniform(next(keys), (fan_out,), jnp.float32, -bound, bound)}

    def conv(k, cin, cout, bias=True):
        bound = 1.0 / (cin * k * k) ** 0.5
        p = {"w": jax.random.uniform(next(keys), (k, k, cin, cout), jnp.float32, -bound, bound)}
        if bias:
            p["b"] = jax.random.uniform(next(keys), (cout,), jnp.float32, -bound, bound)
        return p

    def bn(c):  # inference batch norm: running statistics as a scale and a shift
        return {"scale": jnp.ones((c,), jnp.float32), "shift": jnp.zeros((c,), jnp.float32)}

    def conv_apply(p, x, stride=1, pad=0):
        y = lax.conv_general_dilated(x, p["w"], (stride, stride), [(pad, pad), (pad, pad)],
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + p["b"] if "b" in p else y

    def max_pool(x, k, s, pad=0):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, k, k, 1), (1, s, s, 1),
                                 [(0, 0), (pad, pad), (pad, pad), (0, 0)])

    relu = jax.nn.relu
    if name == "mlp":
        params = [dense(784, 512), dense(512, 512), dense(512, 10)]

        def apply(ps, x, train, key):
            h = x.reshape(x.shape[0], -1)
            for i, p in enumerate(ps):
                h = h @ p["w"] + p["b"]
                if i < len(ps) - 1:
                    h = relu(h)
            return h
        return params, apply
    if name == "cnn":
        params = {"c1": conv(3, 1, 32), "c2": conv(3, 32, 64), "l1": dense(64 * 7 * 7, 128), "l2": dense(128, 10)}

        def apply(ps, x, train, key):
            h = max_pool(relu(conv_apply(ps["c1"], x, pad=1)), 2, 2)
            h = max_pool(relu(conv_apply(ps["c2"], h, pad=1)), 2, 2)
            h = relu(h.reshape(h.shape[0], -1) @ ps["l1"]["w"] + ps["l1"]["b"])
            if train:  # Dropout(0.25), scaled like PyTorch's
                keep = jax.random.bernoulli(key, 0.75, h.shape)
                h = jnp.where(keep, h / 0.75, 0.0)
            return h @ ps["l2"]["w"] + ps["l2"]["b"]
        return params, apply
    # resnet18, inference
    blocks, cin = [], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for s in (stride, 1):
            b = {"c1": conv(3, cin, cout, False), "b1": bn(cout), "c2": conv(3, cout, cout, False), "b2": bn(cout),
                 "stride": s}
            if s != 1 or cin != cout:
                b["down"], b["bd"] = conv(1, cin, cout, False), bn(cout)
            blocks.append(b)
            cin = cout
    params = {"stem": conv(7, 3, 64, False), "bn": bn(64), "blocks": blocks, "fc": dense(512, 1000)}

    def bn_apply(p, x):
        return x * p["scale"] + p["shift"]

    def apply(ps, x, train, key):
        h = max_pool(relu(bn_apply(ps["bn"], conv_apply(ps["stem"], x, 2, 3))), 3, 2, 1)
        for b in ps["blocks"]:
            y = relu(bn_apply(b["b1"], conv_apply(b["c1"], h, b["stride"], 1)))
            y = bn_apply(b["b2"], conv_apply(b["c2"], y, 1, 1))
            sc = bn_apply(b["bd"], conv_apply(b["down"], h, b["stride"], 0)) if "down" in b else h
            h = relu(y + sc)
        return jnp.mean(h, axis=(1, 2)) @ ps["fc"]["w"] + ps["fc"]["b"]

    # "stride" is static: close over the blocks' strides so that jit sees plain arrays only.
    strides = [b.pop("stride") for b in blocks]

    def apply_static(ps, x, train, key):
        ps = dict(ps, blocks=[dict(b, stride=s) for b, s in zip(ps["blocks"], strides)])
        return apply(ps, x, train, key)
    return params, apply_static
