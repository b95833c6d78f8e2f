"""Procedural people-like scenes: an articulated body of capsules and ellipsoids, optionally on a floor disc.

A scene is drawn from a numpy generator (see :mod:`volo_adapt.synth.seeding`), so every sample is
reproducible from ``(seed, stream, index)``. :func:`stack_scenes` packs a list of scenes into the fixed-size
tensors that :func:`volo_adapt.synth.render.render` ray-casts in one vectorised pass.

Body model (:mod:`~.body`; world frame: metres, ``Y`` up, floor at ``Y = 0``; the body faces ``-Z`` before its yaw):

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

from volo_adapt.synth.body import UP, Body, Uniform, frame_along, lift_to_floor, pose_body, rot_y, unit

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


@dataclass
class _View:
    """Where the body stands relative to the camera: world (``Y`` up, floor ``Y = 0``) -> camera (OpenCV) frame.

    ``w2c`` (3, 3) flips ``Y`` and pitches down by ``pitch`` (radians); ``yaw`` (3, 3) turns the body; ``lift`` (3,)
    puts its lowest point on the floor; ``body_pos`` and ``cam_pos`` (3,) are world positions, metres.
    """

    yaw: np.ndarray
    dist: float
    body_pos: np.ndarray
    cam_h: float
    pitch: float
    w2c: np.ndarray
    cam_pos: np.ndarray
    lift: np.ndarray

    def to_cam(self, p: np.ndarray) -> np.ndarray:
        """A body-frame point (3,) in the camera frame."""
        return self.w2c @ (self.yaw @ (p + self.lift) + self.body_pos - self.cam_pos)

    def primitives(self, body: Body) -> dict[str, np.ndarray]:
        """``cap_a, cap_b, cap_r, ell_c, ell_rot, ell_r`` in the camera frame (the :class:`Scene` fields)."""
        caps, ells, rot_cam = body.caps, body.ells, self.w2c @ self.yaw
        return {
            "cap_a": np.stack([self.to_cam(caps[n][0]) for n in CAPSULE_NAMES]),
            "cap_b": np.stack([self.to_cam(caps[n][1]) for n in CAPSULE_NAMES]),
            "cap_r": np.array([caps[n][2] for n in CAPSULE_NAMES]),
            "ell_c": np.stack([self.to_cam(ells[n][0]) for n in ELLIPSOID_NAMES]),
            "ell_rot": np.stack([rot_cam @ ells[n][1] for n in ELLIPSOID_NAMES]),
            "ell_r": np.stack([ells[n][2] for n in ELLIPSOID_NAMES]),
        }

    @property
    def floor_point(self) -> np.ndarray:
        """(3,) centre of the floor disc (under the body), camera frame."""
        return self.w2c @ (self.body_pos - self.cam_pos)

    @property
    def floor_normal(self) -> np.ndarray:
        """(3,) unit floor normal (world up), camera frame."""
        return self.w2c @ UP


def _place(u: Uniform, cfg: SceneConfig, body: Body) -> _View:
    """Draw the body's yaw and position and the camera's height and pitch (aimed at a random body height)."""
    yaw = rot_y(u(-math.pi, math.pi))
    dist = u(*cfg.distance_m)
    alpha = u(-0.15, 0.15)
    body_pos = np.array([dist * math.sin(alpha), 0.0, dist * math.cos(alpha)])
    cam_h = u(*cfg.camera_height_m)
    target_h = u(0.3, 0.9) * body.height
    pitch = math.atan2(cam_h - target_h, dist) + u(-0.05, 0.05)
    # world (Y up) -> camera (OpenCV, y down): flip Y, then pitch down by `pitch`.
    c, sn = math.cos(pitch), math.sin(pitch)
    w2c = np.array([[1.0, 0.0, 0.0], [0.0, c, -sn], [0.0, sn, c]]) @ np.diag([1.0, -1.0, 1.0])
    return _View(yaw=yaw, dist=dist, body_pos=body_pos, cam_h=cam_h, pitch=pitch, w2c=w2c,
                 cam_pos=np.array([0.0, cam_h, 0.0]), lift=lift_to_floor(body))


def _materials(rng: np.random.Generator) -> tuple[list[tuple], dict[str, bool]]:
    """Materials ``(colour1, colour2, pattern, freq, phase)`` of the primitives (capsules, ellipsoids) then the floor,
    and the clothing flags ``long_sleeves``, ``sleeveless``, ``long_trousers``."""
    u = rng.uniform
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
    flags = {"long_sleeves": long_sleeves, "sleeveless": sleeveless, "long_trousers": long_trousers}
    return [mats[n] for n in (*CAPSULE_NAMES, *ELLIPSOID_NAMES)] + [floor_mat], flags


def _texture_frames(view: _View, geo: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``tex_origin (P + 1, 3)`` and ``tex_rot (P + 1, 3, 3)``: capsules along their axis, ellipsoids in their own
    frame, the floor in the world's ``X``/``Z`` directions."""
    tex_origin = np.concatenate([geo["cap_a"], geo["ell_c"], view.floor_point[None]])
    cap_frames = np.stack([frame_along(b - a) for a, b in zip(geo["cap_a"], geo["cap_b"], strict=True)])
    w2c = view.w2c
    floor_frame = np.stack([w2c @ np.array([1.0, 0, 0]), w2c @ np.array([0.0, 0, 1]), view.floor_normal], axis=1)
    return tex_origin, np.concatenate([cap_frames, geo["ell_rot"], floor_frame[None]])


def sample_scene(rng: np.random.Generator, cfg: SceneConfig = SceneConfig()) -> Scene:  # noqa: B008
    """Draw one random scene.

    The draws come in a fixed order (body, pose, placement, floor, materials, light, noise texture, light
    intensity): changing it changes every generated data set (see ``FORMAT_VERSION`` in ``dataset_writer``).

    Args:
        rng: the sample's own generator (see :func:`volo_adapt.synth.seeding.numpy_rng`).
        cfg: parameter ranges.

    Returns:
        The scene in camera coordinates.
    """
    u = rng.uniform
    height = u(*cfg.height_m)
    body = pose_body(u, height, u(*cfg.girth))
    view = _place(u, cfg, body)
    geo = view.primitives(body)
    floor = bool(u() < cfg.floor_probability)
    floor_radius = float(u(*cfg.floor_radius_m))
    mat_list, clothes = _materials(rng)
    light_dir = unit(np.array([u(-0.6, 0.6), u(-0.9, -0.2), -u(0.5, 1.0)]))
    tex_origin, tex_rot = _texture_frames(view, geo)
    return Scene(
        **geo, floor=floor, floor_point=view.floor_point, floor_normal=view.floor_normal, floor_radius=floor_radius,
        tex_origin=tex_origin, tex_rot=tex_rot,
        colour1=np.stack([m[0] for m in mat_list]).clip(0, 1), colour2=np.stack([m[1] for m in mat_list]).clip(0, 1),
        pattern=np.array([m[2] for m in mat_list], dtype=np.int64), freq=np.array([m[3] for m in mat_list]),
        phase=np.array([m[4] for m in mat_list]),
        waves=np.stack([unit(rng.normal(size=3)) for _ in range(N_NOISE_WAVES)]),
        wave_phase=rng.uniform(0, 2 * math.pi, size=N_NOISE_WAVES),
        light_dir=light_dir, light_intensity=float(u(*cfg.light_intensity)),
        params={"height_m": height, "girth": body.girth, "distance_m": view.dist, "camera_height_m": view.cam_h,
                "pitch_rad": view.pitch, "floor": floor, **clothes, "bald": body.bald},
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
