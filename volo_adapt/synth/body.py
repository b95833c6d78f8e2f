"""The articulated body of a synthetic scene, posed in its own frame, and the small rotation helpers it uses.

Body frame: metres, origin on the floor under the pelvis, ``Y`` up, the body faces ``-Z``. :func:`pose_body` draws
the pose from the sample's generator in a fixed order (torso and head, arms, legs); :mod:`~.scene` then places the
body in front of the camera. Proportions scale with the body height (1.75 m = scale 1) and the girth factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1."""
    return v / np.linalg.norm(v)


def rot_x(a: float) -> np.ndarray:
    """(3, 3) rotation by ``a`` radians about ``X``."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    """(3, 3) rotation by ``a`` radians about ``Y``."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def frame_along(axis: np.ndarray) -> np.ndarray:
    """A rotation whose second column (local ``y``) is ``axis``."""
    y = unit(axis)
    helper = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = unit(np.cross(y, helper))
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def bend(u: np.ndarray, towards: np.ndarray, angle: float) -> np.ndarray:
    """Rotate unit ``u`` by ``angle`` towards the component of ``towards`` perpendicular to it."""
    w = towards - np.dot(towards, u) * u
    n = np.linalg.norm(w)
    w = w / n if n > 1e-6 else frame_along(u)[:, 0]
    return unit(math.cos(angle) * u + math.sin(angle) * w)


def _direction(x: float, y: float, z: float) -> np.ndarray:
    """A read-only (3,) float64 unit direction of the body frame."""
    v = np.array([x, y, z], dtype=np.float64)
    v.setflags(write=False)
    return v


UP, _DOWN, _FWD, _BACK = _direction(0, 1, 0), _direction(0, -1, 0), _direction(0, 0, -1), _direction(0, 0, 1)
"""World/body up (``+Y``), down, forward (the body faces ``-Z``) and back."""

Uniform = Callable[..., float]
"""``rng.uniform`` of the sample's generator: ``u()`` in ``[0, 1)``, ``u(lo, hi)`` in ``[lo, hi)``."""


@dataclass
class Body:
    """The articulated body in its own frame (metres; origin on the floor under the pelvis, ``Y`` up, faces ``-Z``).

    ``caps[name] = (end a (3,), end b (3,), radius)``; ``ells[name] = (centre (3,), rotation (3, 3), radii (3,))``.
    ``lean`` (3, 3) tilts everything above the pelvis about ``pelvis_c`` (3,).
    """

    height: float
    girth: float
    caps: dict[str, tuple[np.ndarray, np.ndarray, float]] = field(default_factory=dict)
    ells: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    lean: np.ndarray = field(default_factory=lambda: np.eye(3))
    pelvis_c: np.ndarray = field(default_factory=lambda: np.zeros(3))
    bald: bool = False

    @property
    def scale(self) -> float:
        """Size relative to a 1.75 m body (multiplies the proportions)."""
        return self.height / 1.75

    def upper(self, p: np.ndarray) -> np.ndarray:
        """A point of the upper body after the torso lean (which pivots about the pelvis)."""
        return self.pelvis_c + self.lean @ (p - self.pelvis_c)


def _pose_torso_and_head(u: Uniform, body: Body) -> None:
    """Pelvis, chest, neck, head and hair; draws the torso lean, the head turn and the hair."""
    height, g, s = body.height, body.girth, body.scale
    body.lean = lean = rot_x(u(-0.15, 0.15))
    body.pelvis_c = pelvis_c = np.array([0.0, 0.53 * height, 0.0])
    upper, caps, ells = body.upper, body.caps, body.ells
    ells["pelvis"] = (pelvis_c, np.eye(3), np.array([0.165 * g, 0.10, 0.11 * g]) * s)
    ells["chest"] = (upper(np.array([0.0, 0.70 * height, 0.0])), lean, np.array([0.17 * g, 0.16, 0.11 * g]) * s)
    caps["neck"] = (upper(np.array([0.0, 0.80 * height, 0.0])), upper(np.array([0.0, 0.875 * height, -0.005])),
                    0.055 * s * math.sqrt(g))
    head_rot = lean @ rot_y(u(-0.6, 0.6)) @ rot_x(u(-0.25, 0.25))
    head_c = upper(np.array([0.0, 0.925 * height, -0.01]))
    ells["head"] = (head_c, head_rot, np.array([0.075, 0.11, 0.095]) * s)
    body.bald = u() < 0.15
    hair_scale = 0.5 if body.bald else u(1.0, 1.08)
    ells["hair"] = (head_c + head_rot @ (np.array([0.0, 0.025, 0.025]) * s), head_rot,
                    np.array([0.082, 0.103, 0.092]) * s * hair_scale)


def _pose_arms(u: Uniform, body: Body) -> None:
    """Upper arms, forearms and hands, left then right; draws abduction, flexion and elbow bend of each."""
    height, g, s = body.height, body.girth, body.scale
    arm_len, fore_len = 0.165 * height, 0.15 * height
    for side, sx in (("l", -1.0), ("r", 1.0)):
        shoulder = body.upper(np.array([sx * 0.175 * math.sqrt(g) * s, 0.815 * height, 0.0]))
        out = np.array([sx, 0.0, 0.0])
        abd, flex = u(0.05, 1.3), u(-0.4, 1.4)
        d_up = unit(math.cos(flex) * (math.cos(abd) * _DOWN + math.sin(abd) * out) + math.sin(flex) * _FWD)
        elbow = shoulder + arm_len * d_up
        d_fore = bend(d_up, _FWD, u(0.0, 2.0))
        wrist = elbow + fore_len * d_fore
        body.caps[f"{side}_upper_arm"] = (shoulder, elbow, 0.045 * g * s)
        body.caps[f"{side}_forearm"] = (elbow, wrist, 0.036 * g * s)
        hand_r = np.array([0.025, 0.05, 0.045]) * s
        body.ells[f"{side}_hand"] = (wrist + 0.045 * height * d_fore, frame_along(d_fore), hand_r)


def _pose_legs(u: Uniform, body: Body) -> None:
    """Thighs, shins and feet; draws the standing leg, then hip flexion/abduction and knee bend of each leg."""
    height, g, s = body.height, body.girth, body.scale
    thigh_len, shin_len = 0.245 * height, 0.245 * height
    standing = "l" if u() < 0.5 else "r"
    for side, sx in (("l", -1.0), ("r", 1.0)):
        hip = np.array([sx * 0.09 * math.sqrt(g) * s, 0.50 * height, 0.0])
        out = np.array([sx, 0.0, 0.0])
        if side == standing:
            flex, abd, knee = u(-0.1, 0.1), u(0.0, 0.1), u(0.0, 0.15)
        else:
            flex, abd, knee = u(-0.3, 0.7), u(0.0, 0.3), u(0.0, 1.0)
        d_thigh = unit(math.cos(flex) * (math.cos(abd) * _DOWN + math.sin(abd) * out) + math.sin(flex) * _FWD)
        knee_p = hip + thigh_len * d_thigh
        d_shin = bend(d_thigh, _BACK, knee)
        ankle = knee_p + shin_len * d_shin
        body.caps[f"{side}_thigh"] = (hip, knee_p, 0.075 * g * s)
        body.caps[f"{side}_shin"] = (knee_p, ankle, 0.05 * g * s)
        foot_r = np.array([0.045, 0.035, 0.125]) * s
        body.ells[f"{side}_foot"] = (ankle + np.array([0.0, -0.01, -0.06]) * s, np.eye(3), foot_r)


def lift_to_floor(body: Body) -> np.ndarray:
    """(3,) offset that puts the lowest point of the feet and shins at ``Y = 0``."""
    lowest = min(min(c[1] - r[1] for n, (c, _, r) in body.ells.items() if n.endswith("foot")),
                 min(min(a[1], b[1]) - r for n, (a, b, r) in body.caps.items() if n.endswith("shin")))
    return np.array([0.0, -lowest, 0.0])


def pose_body(u: Uniform, height: float, girth: float) -> Body:
    """Draw a pose for a body of ``height`` metres and build factor ``girth`` (torso and head, arms, legs)."""
    body = Body(height, girth)
    _pose_torso_and_head(u, body)
    _pose_arms(u, body)
    _pose_legs(u, body)
    return body
