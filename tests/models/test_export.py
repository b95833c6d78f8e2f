"""TorchScript tracing and ONNX export of the networks (tiny sizes)."""

from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch

from volo_adapt.models import bake_spectral_norm, create_critic, create_generator

TINY = {"vologan": {"base": 4, "levels": 3}, "resnet9": {"base": 4, "n_blocks": 1}}


@pytest.mark.parametrize("name", sorted(TINY))
def test_generators_trace(name):
    torch.manual_seed(0)
    g = create_generator(name, **TINY[name]).eval()
    x = torch.rand(1, 4, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(g, x, check_trace=False)
    torch.testing.assert_close(traced(x), g(x))


def test_vologan_critic_traces():
    d = create_critic("vologan", base=4).eval()
    x = torch.rand(1, 4, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(d, x, check_trace=False)
    for a, b in zip(traced(x), d(x), strict=True):
        torch.testing.assert_close(a, b)


def test_vologan_generator_onnx_export_after_baking_spectral_norm():
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    g = create_generator("vologan", base=4, levels=3).eval()
    baked = bake_spectral_norm(copy.deepcopy(g))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            baked,
            (torch.rand(1, 4, 32, 32),),
            buf,
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}},
        )
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 4, 64, 64)  # another batch size and side than at export
    (y,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(y), g(x), atol=1e-4, rtol=0)
