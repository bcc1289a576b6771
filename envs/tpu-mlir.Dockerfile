# The TPU-MLIR tools in Sophgo's development image, built once by rule tpu_mlir_image and tagged
# by the hash of this file and its build arguments. The base is a build argument so that a site
# without access to Docker Hub can use a local image with Python 3.10 instead.
ARG BASE_IMAGE=sophgo/tpuc_dev:v3.4
FROM ${BASE_IMAGE}
ARG TPU_MLIR_VERSION=1.28.1
ARG PIP_OPTIONS=""
# the wheel's bundled glibc, which breaks the tools on a newer host (posepipe.tpu_mlir.env)
ARG BUNDLED_GLIBC="libc.so.6 libm.so.6 libpthread.so.0"
# search_qtable (quantize.recipes, bf16_layers: search) renders its result with Graphviz, under
# the tpu_mlir wheel's glib, which needs libpcre3
RUN command -v dot > /dev/null || (apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz libpcre3 \
        && rm -rf /var/lib/apt/lists/*)
COPY tpu-mlir-requirements.txt /tmp/tpu-mlir-requirements.txt
RUN python3.10 -m pip install --no-cache-dir ${PIP_OPTIONS} "tpu_mlir[onnx]==${TPU_MLIR_VERSION}" \
        -r /tmp/tpu-mlir-requirements.txt \
    && site=$(python3.10 -c "import tpu_mlir, os; print(os.path.dirname(tpu_mlir.__file__))") \
    && for name in ${BUNDLED_GLIBC}; do rm -f "$site/lib/third_party/$name"; done
