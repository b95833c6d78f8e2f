"""Procedural people-like scenes: an articulated body of capsules and ellipsoids, optionally on a floor disc.

A scene is drawn from a numpy generator (see :mod:`volo_adapt.synth.seeding`), so every sample is
reproducible from ``(seed, stream, index)``. :func:`stack_scenes` packs a list of scenes into the fixed-size
tensors that :func:`volo_adapt.synth.render.render` ray-casts in one vectorised pass.

Body model (world frame: metres, ``Y`` up, floor at ``Y = 0``; the body faces ``-Z`` before its yaw):

* capsules (segment + radius): neck, upper arms, forearms, thighs, shins (:data:`CAPSULE_NAMES`);
* ellipsoids (centre, rotation, three radii): head, hair, chest, pelvis, hands, feet (:data:`ELLIPSOID_NAMES`).

Pose (shoulder abduction/flexion, elbow, hip, knee, torso lean, head turn, body yaw), build (height 1.50-1.95 m,
girth factor 0.85-1.30), skin tone, hair, sleeve/trouser length and clothing colours with solid, striped,
checked or noise textures are random. The body stands on the floor; its axis is 0.8-4 m (horizontally) from the
camera, which sits 0.9-1.6 m above the floor and is pitched to look at a random height on the body. A floor disc
(radius 1-2.5 m around the subject) is present in half of the scenes; everything else is background (no
surface: depth 0, colour 0, as in the original VoloGAN data).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field

import numpy as np
import torch

CAPSULE_NAMES = ("neck", "l_upper_arm", "l_forearm", "r_upper_arm", "r_forearm", "l_thigh", "l_shin", "r_thigh",
                 "r_shin")
ELLIPSOID_NAMES = ("head", "hair", "chest", "pelvis", "l_hand", "r_hand", "l_foot", "r_foot")
N_CAPSULES = len(CAPSULE_NAMES)
N_ELLIPSOIDS = len(ELLIPSOID_NAMES)
N_PRIMITIVES = N_CAPSULES + N_ELLIPSOIDS
"""Primitive index ``i``: capsules first, then ellipsoids; index ``N_PRIMITIVES`` is the floor."""
N_NOISE_WAVES = 4
"""Sinusoids summed by the ``noise`` texture."""

PATTERN_SOLID, PATTERN_STRIPES, PATTERN_CHECKS, PATTERN_NOISE = 0, 1, 2, 3


@dataclass(frozen=True)
class SceneConfig:
    """Ranges of the random scene parameters (all uniform unless stated)."""

    distance_m: tuple[float, float] = (0.8, 4.0)
    """Horizontal distance from the camera to the body's vertical axis, metres (issue: 0.8-4 m)."""
    height_m: tuple[float, float] = (1.50, 1.95)
    """Body height, metres (adult range)."""
    girth: tuple[float, float] = (0.85, 1.30)
    """Build factor multiplying limb and torso widths (1 = average build)."""
    camera_height_m: tuple[float, float] = (0.9, 1.6)
    """Camera height above the floor, metres (hand-held phone)."""
    floor_probability: float = 0.5
    """Probability that a floor disc is present."""
    floor_radius_m: tuple[float, float] = (1.0, 2.5)
    """Radius of the floor disc around the subject, metres (a scanned ground patch, not an infinite plane)."""
    light_intensity: tuple[float, float] = (0.8, 1.1)
    """Directional light intensity (multiplies the Lambert term)."""


@dataclass
class Scene:
    """One scene in camera coordinates (OpenCV frame, metres), as numpy float64 arrays.

    Attributes:
        cap_a, cap_b: ``(Nc, 3)`` capsule segment end points.
        cap_r: ``(Nc,)`` capsule radii.
        ell_c: ``(Ne, 3)`` ellipsoid centres.
        ell_rot: ``(Ne, 3, 3)`` ellipsoid rotations (columns: local axes in camera frame).
        ell_r: ``(Ne, 3)`` ellipsoid radii along the local axes.
        floor: whether the floor disc is present.
        floor_point: ``(3,)`` disc centre; floor_normal: ``(3,)`` unit normal (pointing up, towards the camera);
        floor_radius: disc radius.
        tex_origin: ``(P + 1, 3)`` texture frame origins (primitives, then floor).
        tex_rot: ``(P + 1, 3, 3)`` texture frames (columns: local axes; local ``y`` runs along limbs/up the torso).
        colour1, colour2: ``(P + 1, 3)`` albedos in ``[0, 1]`` blended by the pattern.
        pattern: ``(P + 1,)`` int, one of ``PATTERN_*``; freq: ``(P + 1,)`` pattern frequency, cycles per metre;
        phase: ``(P + 1,)`` pattern phase, radians.
        waves: ``(N_NOISE_WAVES, 3)`` unit wave directions of the noise texture; wave_phase: ``(N_NOISE_WAVES,)``.
        light_dir: ``(3,)`` unit vector from the surface towards the light, camera frame.
        light_intensity: scalar.
        params: the drawn scalar parameters (for the manifest/debugging).
    """

    cap_a: np.ndarray
    cap_b: np.ndarray
    cap_r: np.ndarray
    ell_c: np.ndarray
    ell_rot: np.ndarray
    ell_r: np.ndarray
    floor: bool
    floor_point: np.ndarray
    floor_normal: np.ndarray
    floor_radius: float
    tex_origin: np.ndarray
    tex_rot: np.ndarray
    colour1: np.ndarray
    colour2: np.ndarray
    pattern: np.ndarray
    freq: np.ndarray
    phase: np.ndarray
    waves: np.ndarray
    wave_phase: np.ndarray
    light_dir: np.ndarray
    light_intensity: float
    params: dict = field(default_factory=dict)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _frame_along(axis: np.ndarray) -> np.ndarray:
    """A rotation whose second column (local ``y``) is ``axis``."""
    y = _unit(axis)
    helper = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = _unit(np.cross(y, helper))
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def _bend(u: np.ndarray, towards: np.ndarray, angle: float) -> np.ndarray:
    """Rotate unit ``u`` by ``angle`` towards the component of ``towards`` perpendicular to it."""
    w = towards - np.dot(towards, u) * u
    n = np.linalg.norm(w)
    w = w / n if n > 1e-6 else _frame_along(u)[:, 0]
    return _unit(math.cos(angle) * u + math.sin(angle) * w)


def _colour_hsv(rng: np.random.Generator, s_max: float, v: tuple[float, float]) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.0, s_max), rng.uniform(*v)))


def _garment(rng: np.random.Generator, probs: tuple[float, float, float, float]) -> tuple:
    """(colour1, colour2, pattern, freq cycles/m, phase) of one garment."""
    c1 = _colour_hsv(rng, 0.8, (0.05, 0.95))
    c2 = _colour_hsv(rng, 0.8, (0.05, 0.95)) if rng.uniform() < 0.6 else np.clip(c1 * rng.uniform(0.3, 0.7), 0, 1)
    pattern = int(rng.choice(4, p=np.asarray(probs)))
    freq = {PATTERN_SOLID: 1.0, PATTERN_STRIPES: rng.uniform(8, 30), PATTERN_CHECKS: rng.uniform(5, 20),
            PATTERN_NOISE: rng.uniform(10, 40)}[pattern]
    return c1, c2, pattern, freq, rng.uniform(0, 2 * math.pi)


def sample_scene(rng: np.random.Generator, cfg: SceneConfig = SceneConfig()) -> Scene:  # noqa: B008
    """Draw one random scene.

    Args:
        rng: the sample's own generator (see :func:`volo_adapt.synth.seeding.numpy_rng`).
        cfg: parameter ranges.

    Returns:
        The scene in camera coordinates.
    """
    u = rng.uniform
    height = u(*cfg.height_m)
    g = u(*cfg.girth)
    s = height / 1.75
    down, fwd, back, up = np.array([0.0, -1, 0]), np.array([0.0, 0, -1]), np.array([0.0, 0, 1]), np.array([0.0, 1, 0])

    # --- skeleton in the body frame (origin on the floor under the pelvis; faces -Z) ---
    lean = _rot_x(u(-0.15, 0.15))
    pelvis_c = np.array([0.0, 0.53 * height, 0.0])

    def upper(p: np.ndarray) -> np.ndarray:  # torso lean pivots about the pelvis
        return pelvis_c + lean @ (p - pelvis_c)

    caps: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    ells: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    ells["pelvis"] = (pelvis_c, np.eye(3), np.array([0.165 * g, 0.10, 0.11 * g]) * s)
    ells["chest"] = (upper(np.array([0.0, 0.70 * height, 0.0])), lean, np.array([0.17 * g, 0.16, 0.11 * g]) * s)
    caps["neck"] = (upper(np.array([0.0, 0.80 * height, 0.0])), upper(np.array([0.0, 0.875 * height, -0.005])),
                    0.055 * s * math.sqrt(g))
    head_rot = lean @ _rot_y(u(-0.6, 0.6)) @ _rot_x(u(-0.25, 0.25))
    head_c = upper(np.array([0.0, 0.925 * height, -0.01]))
    ells["head"] = (head_c, head_rot, np.array([0.075, 0.11, 0.095]) * s)
    bald = u() < 0.15
    hair_scale = 0.5 if bald else u(1.0, 1.08)
    ells["hair"] = (head_c + head_rot @ (np.array([0.0, 0.025, 0.025]) * s), head_rot,
                    np.array([0.082, 0.103, 0.092]) * s * hair_scale)

    arm_len, fore_len = 0.165 * height, 0.15 * height
    for side, sx in (("l", -1.0), ("r", 1.0)):
        shoulder = upper(np.array([sx * 0.175 * math.sqrt(g) * s, 0.815 * height, 0.0]))
        out = np.array([sx, 0.0, 0.0])
        abd, flex = u(0.05, 1.3), u(-0.4, 1.4)
        d_up = _unit(math.cos(flex) * (math.cos(abd) * down + math.sin(abd) * out) + math.sin(flex) * fwd)
        elbow = shoulder + arm_len * d_up
        d_fore = _bend(d_up, fwd, u(0.0, 2.0))
        wrist = elbow + fore_len * d_fore
        caps[f"{side}_upper_arm"] = (shoulder, elbow, 0.045 * g * s)
        caps[f"{side}_forearm"] = (elbow, wrist, 0.036 * g * s)
        hand_r = np.array([0.025, 0.05, 0.045]) * s
        ells[f"{side}_hand"] = (wrist + 0.045 * height * d_fore, _frame_along(d_fore), hand_r)

    thigh_len, shin_len = 0.245 * height, 0.245 * height
    standing = "l" if u() < 0.5 else "r"
    for side, sx in (("l", -1.0), ("r", 1.0)):
        hip = np.array([sx * 0.09 * math.sqrt(g) * s, 0.50 * height, 0.0])
        out = np.array([sx, 0.0, 0.0])
        if side == standing:
            flex, abd, knee = u(-0.1, 0.1), u(0.0, 0.1), u(0.0, 0.15)
        else:
            flex, abd, knee = u(-0.3, 0.7), u(0.0, 0.3), u(0.0, 1.0)
        d_thigh = _unit(math.cos(flex) * (math.cos(abd) * down + math.sin(abd) * out) + math.sin(flex) * fwd)
        knee_p = hip + thigh_len * d_thigh
        d_shin = _bend(d_thigh, back, knee)
        ankle = knee_p + shin_len * d_shin
        caps[f"{side}_thigh"] = (hip, knee_p, 0.075 * g * s)
        caps[f"{side}_shin"] = (knee_p, ankle, 0.05 * g * s)
        foot_r = np.array([0.045, 0.035, 0.125]) * s
        ells[f"{side}_foot"] = (ankle + np.array([0.0, -0.01, -0.06]) * s, np.eye(3), foot_r)

    # stand on the floor: lowest point of feet and shins at Y = 0
    lowest = min(min(c[1] - r[1] for n, (c, _, r) in ells.items() if n.endswith("foot")),
                 min(min(a[1], b[1]) - r for n, (a, b, r) in caps.items() if n.endswith("shin")))
    lift = np.array([0.0, -lowest, 0.0])

    # --- placement and camera ---
    yaw = _rot_y(u(-math.pi, math.pi))
    dist = u(*cfg.distance_m)
    alpha = u(-0.15, 0.15)
    body_pos = np.array([dist * math.sin(alpha), 0.0, dist * math.cos(alpha)])
    cam_h = u(*cfg.camera_height_m)
    target_h = u(0.3, 0.9) * height
    pitch = math.atan2(cam_h - target_h, dist) + u(-0.05, 0.05)
    # world (Y up) -> camera (OpenCV, y down): flip Y, then pitch down by `pitch`.
    c, sn = math.cos(pitch), math.sin(pitch)
    w2c = np.array([[1.0, 0.0, 0.0], [0.0, c, -sn], [0.0, sn, c]]) @ np.diag([1.0, -1.0, 1.0])
    cam_pos = np.array([0.0, cam_h, 0.0])

    def to_cam(p: np.ndarray) -> np.ndarray:
        return w2c @ (yaw @ (p + lift) + body_pos - cam_pos)

    rot_cam = w2c @ yaw
    cap_a = np.stack([to_cam(caps[n][0]) for n in CAPSULE_NAMES])
    cap_b = np.stack([to_cam(caps[n][1]) for n in CAPSULE_NAMES])
    cap_r = np.array([caps[n][2] for n in CAPSULE_NAMES])
    ell_c = np.stack([to_cam(ells[n][0]) for n in ELLIPSOID_NAMES])
    ell_rot = np.stack([rot_cam @ ells[n][1] for n in ELLIPSOID_NAMES])
    ell_r = np.stack([ells[n][2] for n in ELLIPSOID_NAMES])

    floor = bool(u() < cfg.floor_probability)
    floor_point = w2c @ (body_pos - cam_pos)
    floor_normal = w2c @ up
    floor_radius = float(u(*cfg.floor_radius_m))

    # --- materials ---
    tone = u()
    skin = (1 - tone) * np.array([0.17, 0.10, 0.07]) + tone * np.array([0.80, 0.60, 0.50])
    hair_t = u() ** 2
    hair = (1 - hair_t) * np.array([0.03, 0.025, 0.02]) + hair_t * np.array([0.60, 0.50, 0.30])
    top = _garment(rng, (0.35, 0.25, 0.2, 0.2))
    bottom = _garment(rng, (0.5, 0.1, 0.1, 0.3))
    shoe_v = u(0.03, 0.6)
    shoes = (np.array([shoe_v, shoe_v * 0.9, shoe_v * 0.8]), np.array([shoe_v, shoe_v, shoe_v]) * 0.7,
             PATTERN_SOLID, 1.0, 0.0)
    floor_v = u(0.2, 0.7)
    floor_mat = (_colour_hsv(rng, 0.25, (floor_v, floor_v)), _colour_hsv(rng, 0.25, (0.2, 0.7)),
                 PATTERN_CHECKS if u() < 0.5 else PATTERN_NOISE, u(1.5, 6.0), u(0, 2 * math.pi))
    plain = lambda col: (col, col, PATTERN_SOLID, 1.0, 0.0)  # noqa: E731
    long_sleeves, sleeveless, long_trousers = u() < 0.5, u() < 0.15, u() < 0.7
    mats = {
        "neck": plain(skin), "head": plain(skin), "hair": plain(hair), "chest": top, "pelvis": bottom,
        "l_hand": plain(skin), "r_hand": plain(skin), "l_foot": shoes, "r_foot": shoes,
        "l_thigh": bottom, "r_thigh": bottom,
    }
    for side in ("l", "r"):
        mats[f"{side}_upper_arm"] = plain(skin) if sleeveless else top
        mats[f"{side}_forearm"] = top if long_sleeves and not sleeveless else plain(skin)
        mats[f"{side}_shin"] = bottom if long_trousers else plain(skin)
    order = [*CAPSULE_NAMES, *ELLIPSOID_NAMES]
    mat_list = [mats[n] for n in order] + [floor_mat]

    tex_origin = np.concatenate([cap_a, ell_c, floor_point[None]])
    cap_frames = np.stack([_frame_along(b - a) for a, b in zip(cap_a, cap_b, strict=True)])
    floor_frame = np.stack([w2c @ np.array([1.0, 0, 0]), w2c @ np.array([0.0, 0, 1]), floor_normal], axis=1)
    tex_rot = np.concatenate([cap_frames, ell_rot, floor_frame[None]])

    light_dir = _unit(np.array([u(-0.6, 0.6), u(-0.9, -0.2), -u(0.5, 1.0)]))
    return Scene(
        cap_a=cap_a, cap_b=cap_b, cap_r=cap_r, ell_c=ell_c, ell_rot=ell_rot, ell_r=ell_r,
        floor=floor, floor_point=floor_point, floor_normal=floor_normal, floor_radius=floor_radius,
        tex_origin=tex_origin, tex_rot=tex_rot,
        colour1=np.stack([m[0] for m in mat_list]).clip(0, 1), colour2=np.stack([m[1] for m in mat_list]).clip(0, 1),
        pattern=np.array([m[2] for m in mat_list], dtype=np.int64), freq=np.array([m[3] for m in mat_list]),
        phase=np.array([m[4] for m in mat_list]),
        waves=np.stack([_unit(rng.normal(size=3)) for _ in range(N_NOISE_WAVES)]),
        wave_phase=rng.uniform(0, 2 * math.pi, size=N_NOISE_WAVES),
        light_dir=light_dir, light_intensity=float(u(*cfg.light_intensity)),
        params={"height_m": height, "girth": g, "distance_m": dist, "camera_height_m": cam_h, "pitch_rad": pitch,
                "floor": floor, "long_sleeves": long_sleeves, "sleeveless": sleeveless, "long_trousers": long_trousers,
                "bald": bald},
    )


@dataclass
class SceneBatch:
    """``B`` scenes as float32 tensors (camera frame, metres), the input of :func:`~.render.render`.

    Shapes: ``cap_a, cap_b (B, Nc, 3)``, ``cap_r (B, Nc)``, ``ell_c (B, Ne, 3)``, ``ell_a (B, Ne, 3, 3)`` (maps a
    camera-frame offset from the centre to unit-sphere coordinates: ``diag(1/r) R^T``), ``floor (B,)`` bool,
    ``floor_point, floor_normal (B, 3)``, ``floor_radius (B,)``, ``tex_origin (B, P+1, 3)``,
    ``tex_rot (B, P+1, 3, 3)``, ``colour1, colour2 (B, P+1, 3)``, ``pattern (B, P+1)`` int64,
    ``freq, phase (B, P+1)``, ``waves (B, K, 3)``, ``wave_phase (B, K)``, ``light_dir (B, 3)``,
    ``light_intensity (B,)``.
    """

    cap_a: torch.Tensor
    cap_b: torch.Tensor
    cap_r: torch.Tensor
    ell_c: torch.Tensor
    ell_a: torch.Tensor
    floor: torch.Tensor
    floor_point: torch.Tensor
    floor_normal: torch.Tensor
    floor_radius: torch.Tensor
    tex_origin: torch.Tensor
    tex_rot: torch.Tensor
    colour1: torch.Tensor
    colour2: torch.Tensor
    pattern: torch.Tensor
    freq: torch.Tensor
    phase: torch.Tensor
    waves: torch.Tensor
    wave_phase: torch.Tensor
    light_dir: torch.Tensor
    light_intensity: torch.Tensor

    def __len__(self) -> int:
        return int(self.cap_a.shape[0])


def stack_scenes(scenes: list[Scene]) -> SceneBatch:
    """Pack scenes into a :class:`SceneBatch` (float32)."""
    assert scenes, "need at least one scene"

    def t(key: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([getattr(sc, key) for sc in scenes])).to(torch.float32)

    ell_a = np.stack([
        np.stack([np.diag(1.0 / r) @ rot.T for rot, r in zip(sc.ell_rot, sc.ell_r, strict=True)]) for sc in scenes
    ])
    return SceneBatch(
        cap_a=t("cap_a"), cap_b=t("cap_b"), cap_r=t("cap_r"), ell_c=t("ell_c"),
        ell_a=torch.from_numpy(ell_a).to(torch.float32),
        floor=torch.tensor([sc.floor for sc in scenes], dtype=torch.bool),
        floor_point=t("floor_point"), floor_normal=t("floor_normal"),
        floor_radius=torch.tensor([sc.floor_radius for sc in scenes], dtype=torch.float32),
        tex_origin=t("tex_origin"), tex_rot=t("tex_rot"), colour1=t("colour1"), colour2=t("colour2"),
        pattern=torch.from_numpy(np.stack([sc.pattern for sc in scenes])), freq=t("freq"), phase=t("phase"),
        waves=t("waves"), wave_phase=t("wave_phase"), light_dir=t("light_dir"),
        light_intensity=torch.tensor([sc.light_intensity for sc in scenes], dtype=torch.float32),
    )
