# A serving image for exported doppel models: doppel-serve (TF Serving and KServe v2 REST APIs) and
# doppel-run, built CPU-only from this repository, on Debian bookworm-slim.
#
#   docker build -t doppel-serve .
#   docker run --rm -p 8501:8501 -v "$PWD/build/fashion_mnist:/models:ro" doppel-serve /models/cnn.dpl
#   curl localhost:8501/v1/models/cnn
#
# Arguments after the image name are doppel-serve's (the model file first, then its flags; see
# serve/README.md). The image holds /opt/doppel/{bin,lib} only: the programs and the oneDNN
# library they load through RUNPATH $ORIGIN/../lib (`cmake --install --component runtime`),
# built with DOPPEL_LEAN_RUNTIME (only the runtime's code, CPU-only, fmt header-only, unused
# sections dropped, stripped; serve/README.md "Lean runtime build").

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake ninja-build pkgconf libfmt-dev zlib1g-dev \
      libboost-dev python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# oneDNN 3.2 (GNU OpenMP) from its PyPI wheels, as in tools/requirements.txt.
RUN python3 -m venv /opt/deps \
 && /opt/deps/bin/pip install --no-cache-dir onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=/opt/deps \
      -DDOPPEL_LEAN_RUNTIME=ON \
 && cmake --build /build --target doppel-run doppel-serve \
 && cmake --install /build --prefix /opt/doppel --component runtime

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home doppel
COPY --from=build /opt/doppel /opt/doppel
ENV PATH=/opt/doppel/bin:$PATH
USER doppel
EXPOSE 8501
ENTRYPOINT ["doppel-serve", "--host", "0.0.0.0", "--port", "8501"]
CMD ["/models/model.dpl"]
