"""``train.split_backward``: the generator step back-propagated in three independent parts gives the gradients of
the one-graph step while holding fewer activations (volo_adapt/training/objective.py ``generator_losses``)."""

from __future__ import annotations

import weakref

import pytest
import torch

from tests.training.conftest import one_smoke_batch
from volo_adapt.config import load_config
from volo_adapt.training.module import VoloGANModule

TINY = ["model.gen_kwargs={levels: 3, dropout: 0.0}", "model.critic_kwargs={n_down: 2, dropout: 0.0}"]
"""Smoke networks without dropout: no random draw depends on the order of the calls."""

EVERY_TERM = ["loss.geometry_weight=1.0", "loss.swd_weight=0.5", "loss.reconstruction_mask=kept"]
"""Every generator term on (the smoke preset already has cycle, identity and SSIM terms)."""


def _module(*overrides: str) -> VoloGANModule:
    torch.manual_seed(0)
    m = VoloGANModule(load_config("smoke", [*TINY, *overrides]))
    m.eval()  # no spectral-norm power iteration: both passes see the same weights
    return m


def _batch(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    a, b = torch.rand(2, 4, size, size, generator=g), torch.rand(2, 4, size, size, generator=g)
    a[:, :, :4] = 0.0  # an invalid band: the masks take part
    return a, b


def _grads(m: VoloGANModule) -> dict[str, torch.Tensor]:
    out = {}
    for name, p in m.named_parameters():
        if p.grad is not None:
            out[name] = p.grad.clone()
    m.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("routing", ["vologan", "cyclegan"])
def test_split_backward_gives_the_gradients_and_losses_of_the_total(routing):
    m = _module(f"loss.routing={routing}", *EVERY_TERM)
    for p in [*m.critic_a.parameters(), *m.critic_b.parameters()]:
        p.requires_grad_(False)  # as in the generator step
    a, b = _batch()
    torch.manual_seed(1)  # the SWD projections are random: the same draws in both passes
    joint, joint_images = m.generator_losses(a, b)
    joint["total"].backward()
    want = _grads(m)
    torch.manual_seed(1)
    parts: list[float] = []

    def backward(loss: torch.Tensor) -> None:
        parts.append(float(loss))
        loss.backward(retain_graph=True)

    split, split_images = m.generator_losses(a, b, backward=backward)
    got = _grads(m)
    assert len(parts) == 3  # cycle from A, cycle from B, identity
    assert sum(parts) == pytest.approx(float(joint["total"]), rel=1e-5)
    assert set(split) == set(joint)
    for k, v in joint.items():
        assert float(split[k]) == pytest.approx(float(v), rel=1e-5, abs=1e-7), k
        assert split[k].grad_fn is None, k  # nothing returned keeps a part's graph alive
    for k, v in joint_images.items():
        torch.testing.assert_close(split_images[k], v.detach(), msg=k)
        assert split_images[k].grad_fn is None
    assert set(got) == set(want) and any(n.startswith("gen_b2a") for n in got)
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, rtol=1e-4, atol=1e-6, msg=k)


class _Box:
    """A saved tensor as autograd keeps it (a weak reference can watch it, unlike a tensor's own storage)."""

    def __init__(self, t: torch.Tensor) -> None:
        self.t = t


class _LiveSavedBytes:
    """The bytes of the distinct storages autograd holds for the backward pass (activations; the weights, alive
    anyway, left out) and their maximum, while its hooks are active."""

    def __init__(self, skip: set[int]) -> None:
        self.skip = skip
        self.refs: dict[int, int] = {}
        self.live = self.peak = 0

    def pack(self, t: torch.Tensor) -> _Box:
        box = _Box(t.detach())  # no grad_fn: holding an output must not keep its own node alive
        ptr = t.untyped_storage().data_ptr()
        if ptr not in self.skip:
            if ptr not in self.refs:
                self.live += t.untyped_storage().nbytes()
                self.peak = max(self.peak, self.live)
            self.refs[ptr] = self.refs.get(ptr, 0) + 1
            weakref.finalize(box, self._free, ptr, t.untyped_storage().nbytes())
        return box

    def _free(self, ptr: int, n: int) -> None:
        self.refs[ptr] -= 1
        if not self.refs[ptr]:
            del self.refs[ptr]
            self.live -= n

    @staticmethod
    def unpack(box: _Box) -> torch.Tensor:
        return box.t


def _peak_saved_bytes(m: VoloGANModule, split: bool) -> int:
    counter = _LiveSavedBytes({p.untyped_storage().data_ptr() for p in m.parameters()})
    a, b = _batch(64)
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        if split:
            m.generator_losses(a, b, backward=lambda loss: loss.backward(retain_graph=True))
        else:
            terms, _ = m.generator_losses(a, b)
            terms["total"].backward()
            del terms
    m.zero_grad(set_to_none=True)
    return counter.peak


def test_split_backward_holds_about_a_third_of_the_activations():
    m = _module("loss.routing=cyclegan")
    joint, split = _peak_saved_bytes(m, split=False), _peak_saved_bytes(m, split=True)
    # six generator calls held at once against two (a cycle) at a time
    assert split < 0.5 * joint, (split, joint)


def _one_batch(tiny_data, out, *extra: str):
    return one_smoke_batch(tiny_data, out, "optim.critic_warmup=0", *TINY, *extra)


RESNET = ["model.generator=resnet9", "model.critic=patchgan", "model.gen_kwargs={}", "model.critic_kwargs={}"]
"""Networks without spectral norm (nor dropout): the parts share no graph, so the split also runs checkpointed."""


@pytest.mark.parametrize(("extra", "same_weights"), [
    ([], True), ([*RESNET, "train.activation_checkpointing=true"], True),
    # uncached, every generator call runs one more power iteration, and the split step calls gen_b2a's cycle
    # before its fake: its sigma differs in the last digits, and NAdam's first step (about lr * sign(grad))
    # turns that into visible weight differences; the losses agree
    (["train.cache_weights=false", "train.batch_calls=false"], False),
])
def test_training_step_with_split_backward_trains_like_one_backward(tiny_data, tmp_path, extra, same_weights):
    """The module's own training_step, one smoke batch: the same losses and weights with the generator loss
    back-propagated in parts (spectral-norm weights cached across the parts or not; checkpointed on networks
    without spectral norm, the only ones where the split runs checkpointed)."""
    joint = _one_batch(tiny_data, tmp_path / "joint", "train.split_backward=false", *extra)
    split = _one_batch(tiny_data, tmp_path / "split", "train.split_backward=true", *extra)
    assert set(joint[0]) == set(split[0]) and "loss/G/total" in joint[0]  # the generator step ran
    for k, v in joint[0].items():
        assert split[0][k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
    for k, v in joint[1].items():
        if same_weights or not k.startswith("gen_"):
            torch.testing.assert_close(split[1][k], v, rtol=1e-4, atol=1e-6, msg=k)


def test_split_backward_is_off_where_it_would_keep_recomputed_activations():
    split = "train.split_backward=true"
    spectral = _module(split, "train.activation_checkpointing=true")  # the smoke generator is spectrally normalised
    assert spectral.parts_share_graph and not spectral.splits_backward
    assert _module(split).splits_backward and not _module("train.split_backward=false").splits_backward
    torch.manual_seed(0)
    resnet = VoloGANModule(load_config("cyclegan", ["data.image_size=32", split,
                                                    "train.activation_checkpointing=true"]))
    assert not resnet.parts_share_graph and resnet.splits_backward  # nothing shared: no retain_graph needed
