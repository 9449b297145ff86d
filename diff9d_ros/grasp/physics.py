"""Physics check of a grasp in MuJoCo: approach, close with force control, lift, hold.

The scene is a static table (top at world z = 0) with free rigid objects: category meshes split
into convex parts, cached on disk, with mass and inertia of the real (watertight) mesh at a
per-category density, and convex primitives as they are. Solids of revolution (cans, bottles,
tins) get the exact decomposition of their profile (:mod:`diff9d_ros.grasp.revolution`: a can's
rim and the recess inside it are kept, so rim pinches can be checked) when it needs at most
``MAX_REVOLVED_PARTS`` parts; other meshes go through CoACD (Wei et al., "Approximate Convex
Decomposition for 3D Meshes with Collision-Aware Concavity and Tree Search", SIGGRAPH 2022),
run in a child process: on a few meshes (near-degenerate faces of microns) a failed assertion in
its native code aborts the process it runs in, so it runs there, and a mesh whose child died is
decomposed again after CoACD's manifold preprocessing (its convex hull if that dies too).
The gripper is free-floating: its hand body (the TCP frame, with the palm boxes) has a free joint
welded to a mocap target, so it follows a kinematic path compliantly and feels contacts; two
prismatic fingers coupled by an equality constraint are driven through one tendon whose length is
the opening. Geometry, masses, finger travel and the force limit all come from the URDF via
:class:`~diff9d_ros.grasp.gripper.GripperModel`.

Trial (:meth:`GraspSimulator.run`): start at the pre-grasp with the fingers at the planned opening
(position control), settle, move linearly to the grasp pose, switch the fingers to force control
and squeeze (70 N, the Franka Hand's continuous grasp force and the URDF's effort limit), lift
``lift_m`` straight up, hold. Success: the object rose by at least half the lift
and part of it is still between the finger pads. The trial also reports how far the object
tilted (an object held by its rim may swing under the fingers and still count as lifted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from diff9d_ros.atomic_files import cache_root, cached_npz
from diff9d_ros.grasp.gripper import GripperModel, load_gripper
from diff9d_ros.grasp.revolution import revolved_parts

LOG = logging.getLogger(__name__)

#: CoACD settings: concavity threshold 0.1 with coarse sampling; a mug or bowl takes a few seconds.
COACD_SETTINGS: dict[str, float | int | str] = {
    "threshold": 0.1,
    "max_convex_hull": 24,
    "preprocess_resolution": 20,
    "resolution": 500,
    "mcts_iterations": 30,
    "mcts_max_depth": 2,
    "mcts_nodes": 10,
}
#: Most convex parts taken from the exact decomposition of a solid of revolution; a finer one (a
#: bowl's thin curved wall needs over a hundred) goes to CoACD instead.
MAX_REVOLVED_PARTS = 64


def cache_dir() -> Path:
    """Where convex decompositions are cached (``coacd`` under :func:`cache_root`)."""
    return cache_root() / "coacd"


def _digest(mesh: trimesh.Trimesh, settings: object) -> str:
    return hashlib.sha1(
        np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes()
        + np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes()
        + repr(settings).encode()
    ).hexdigest()


def _cached_parts(
    path: Path, build: Callable[[], list[tuple[np.ndarray, np.ndarray]]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Parts stored at ``path`` (built and stored first if missing); an empty list is stored as n = 0."""

    def arrays() -> dict[str, np.ndarray]:
        parts = build()
        out = {"n": np.array(len(parts))}
        for i, (v, f) in enumerate(parts):
            out[f"v{i}"], out[f"f{i}"] = np.asarray(v), np.asarray(f)
        return out

    data = cached_npz(path, arrays)
    return [(data[f"v{i}"], data[f"f{i}"]) for i in range(int(data["n"]))]


def convex_parts(mesh: trimesh.Trimesh) -> list[tuple[np.ndarray, np.ndarray]]:
    """Convex parts (vertices, faces) of ``mesh``, cached by the mesh's content hash: the exact parts
    of a solid of revolution when there are at most ``MAX_REVOLVED_PARTS``, else CoACD's."""

    def revolved() -> list[tuple[np.ndarray, np.ndarray]]:
        parts = revolved_parts(mesh)
        return parts if parts is not None and len(parts) <= MAX_REVOLVED_PARTS else []

    parts = _cached_parts(cache_dir() / f"revolved-{_digest(mesh, MAX_REVOLVED_PARTS)}.npz", revolved)
    if parts:
        return parts

    def decompose() -> list[tuple[np.ndarray, np.ndarray]]:
        parts = coacd_parts(mesh.vertices, mesh.faces)
        if parts is None:
            LOG.warning("CoACD failed on a %d-vertex mesh: its convex hull stands in", len(mesh.vertices))
            parts = [(mesh.convex_hull.vertices, mesh.convex_hull.faces)]
        return parts

    return _cached_parts(cache_dir() / f"{_digest(mesh, sorted(COACD_SETTINGS.items()))}.npz", decompose)


def coacd_parts(vertices: np.ndarray, faces: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """CoACD's convex parts (vertices, faces) of a mesh with :data:`COACD_SETTINGS`, run in a child
    Python (:mod:`diff9d_ros.grasp.coacd_worker`), and again with CoACD's manifold preprocessing if
    that child died; None if it died both times. CoACD aborts its process on a failed assertion:
    here that is the child, never the caller."""
    search_path = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, search_path))}
    with tempfile.TemporaryDirectory() as folder:
        mesh_path, parts_path = Path(folder) / "mesh.npz", Path(folder) / "parts.npz"
        np.savez(mesh_path, vertices=np.asarray(vertices, np.float64), faces=np.asarray(faces, np.int64))
        command = [sys.executable, "-m", "diff9d_ros.grasp.coacd_worker", str(mesh_path), str(parts_path)]
        for settings in (COACD_SETTINGS, {**COACD_SETTINGS, "preprocess_mode": "on"}):
            done = subprocess.run([*command, json.dumps(settings)], env=env, capture_output=True, text=True)
            if done.returncode == 0:
                with np.load(parts_path) as data:
                    return [(data[f"v{i}"], data[f"f{i}"]) for i in range(int(data["n"]))]
            reason = (done.stderr.strip().splitlines() or [""])[-1][:200]
            LOG.warning("CoACD exited %d on a %d-vertex mesh: %s", done.returncode, len(vertices), reason)
    return None


@dataclass
class PhysicsObject:
    """A rigid body of the scene: mesh in its local frame, world pose, mass and friction."""

    name: str
    mesh: trimesh.Trimesh
    pose: np.ndarray
    mass_kg: float
    parts: list[tuple[np.ndarray, np.ndarray]]
    friction: float = 0.8

    @classmethod
    def from_mesh(
        cls, name: str, mesh: trimesh.Trimesh, pose: np.ndarray, density_kg_m3: float, decompose: bool = True
    ) -> PhysicsObject:
        """Body of ``mesh`` at ``pose``; CoACD parts if ``decompose``, else its convex hull."""
        if not mesh.is_watertight:
            raise ValueError(f"object {name!r}: mesh must be watertight to have a mass")
        parts = convex_parts(mesh) if decompose else [(mesh.convex_hull.vertices, mesh.convex_hull.faces)]
        return cls(name, mesh, np.asarray(pose, dtype=np.float64), float(density_kg_m3 * mesh.volume), parts)


@dataclass(frozen=True)
class PhysicsConfig:
    """Timing, control and contact settings of a grasp trial (SI units)."""

    timestep_s: float = 0.002
    settle_s: float = 0.3
    approach_s: float = 1.0
    close_s: float = 0.8
    lift_m: float = 0.10
    lift_s: float = 1.0
    hold_s: float = 2.0
    grasp_force_n: float = 70.0
    finger_kp: float = 3000.0
    finger_kv: float = 400.0
    finger_friction: float = 1.0
    table_friction: float = 0.5
    control_every: int = 5
    finger_armature_kg: float = 0.5


@dataclass
class TrialResult:
    """Outcome of one simulated grasp."""

    success: bool
    lift_achieved_m: float
    between_fingers: bool
    finger_gap_m: float
    tilt_deg: float = 0.0


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.6g}" for v in np.asarray(values).reshape(-1))


def _quat_wxyz(rotation: np.ndarray) -> np.ndarray:
    """MuJoCo's quaternion order (w, x, y, z) of a rotation matrix."""
    return Rotation.from_matrix(rotation).as_quat(scalar_first=True)


class GraspSimulator:
    """One MuJoCo model of a scene plus the gripper; :meth:`run` resets it for every trial."""

    def __init__(
        self,
        objects: list[PhysicsObject],
        gripper: GripperModel | None = None,
        config: PhysicsConfig | None = None,
        table_size_m: tuple[float, float] = (1.2, 0.9),
    ) -> None:
        if not objects:
            raise ValueError("GraspSimulator needs at least one object")
        names = [o.name for o in objects]
        if len(set(names)) != len(names):
            raise ValueError(f"object names must be unique, got {names}")
        self.gripper = gripper if gripper is not None else load_gripper()
        self.config = config or PhysicsConfig()
        self.objects = {o.name: o for o in objects}
        self.model = mujoco.MjModel.from_xml_string(self._mjcf(objects, table_size_m))
        self.data = mujoco.MjData(self.model)
        self._actuator = 0
        self._hand_qpos = self.model.jnt_qposadr[
            mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, "hand")
        ]
        self._finger_qpos = [
            self.model.jnt_qposadr[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, f"finger{i}")]
            for i in range(2)
        ]
        self._samples = {
            name: trimesh.sample.sample_surface(o.mesh, 400, seed=0)[0] for name, o in self.objects.items()
        }

    def _mjcf(self, objects: list[PhysicsObject], table_size_m: tuple[float, float]) -> str:
        cfg, g = self.config, self.gripper
        assets, bodies = [], []
        for k, obj in enumerate(objects):
            geoms = []
            for p, (v, f) in enumerate(obj.parts):
                assets.append(f'<mesh name="m{k}_{p}" vertex="{_fmt(v)}" face="{_fmt(f.astype(int))}"/>')
                geoms.append(
                    f'<geom type="mesh" mesh="m{k}_{p}" friction="{obj.friction} 0.005 0.0001" '
                    'condim="4" group="1"/>'
                )
            inertia = obj.mesh.moment_inertia * (obj.mass_kg / obj.mesh.volume)
            full = [inertia[0, 0], inertia[1, 1], inertia[2, 2], inertia[0, 1], inertia[0, 2], inertia[1, 2]]
            pos, quat = _fmt(obj.pose[:3, 3]), _fmt(_quat_wxyz(obj.pose[:3, :3]))
            bodies.append(
                f'<body name="{obj.name}" pos="{pos}" quat="{quat}"><freejoint name="{obj.name}"/>'
                f'<inertial pos="{_fmt(obj.mesh.center_mass)}" mass="{obj.mass_kg:.6g}" '
                f'fullinertia="{_fmt(full)}"/>' + "".join(geoms) + "</body>"
            )
        palm_mass = g.hand_mass_kg / len(g.palm)
        palm = "".join(
            f'<geom type="box" pos="{_fmt(b.centre_m)}" size="{_fmt(b.half_extents_m)}" '
            f'mass="{palm_mass:.6g}"/>'
            for b in g.palm
        )
        pad = f'friction="{cfg.finger_friction} 0.005 0.0001" condim="4" solref="0.004 1"'
        fingers = []
        for i, finger in enumerate(g.fingers):
            box = finger.box
            fingers.append(
                f'<body name="finger{i}" gravcomp="1">'
                f'<joint name="finger{i}" type="slide" axis="{_fmt(finger.travel_direction)}" '
                f'range="0 {finger.upper_limit_m:.6g}" armature="{cfg.finger_armature_kg}" '
                'solreflimit="0.004 1"/>'
                f'<geom type="box" pos="{_fmt(box.centre_m)}" size="{_fmt(box.half_extents_m)}" '
                f'mass="{max(finger.mass_kg, 1e-3):.6g}" {pad}/></body>'
            )
        tx, ty = table_size_m
        kp, kv, force = cfg.finger_kp, cfg.finger_kv, g.finger_force_n
        return f"""
<mujoco model="grasp_check">
  <option timestep="{cfg.timestep_s}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <asset>{"".join(assets)}</asset>
  <worldbody>
    <geom name="table" type="box" pos="0 0 -0.02" size="{tx / 2} {ty / 2} 0.02"
      friction="{cfg.table_friction} 0.005 0.0001"/>
    {"".join(bodies)}
    <body name="target" mocap="true" pos="0 0 1"/>
    <body name="hand" pos="0 0 1" gravcomp="1">
      <freejoint name="hand"/>
      {palm}
      {"".join(fingers)}
    </body>
  </worldbody>
  <contact><exclude body1="hand" body2="finger0"/><exclude body1="hand" body2="finger1"/>
    <exclude body1="finger0" body2="finger1"/></contact>
  <tendon><fixed name="opening">
    <joint joint="finger0" coef="1"/><joint joint="finger1" coef="1"/>
  </fixed></tendon>
  <equality>
    <weld body1="hand" body2="target" relpose="0 0 0 1 0 0 0" solref="0.01 1"/>
    <joint joint1="finger0" joint2="finger1" solref="0.005 1"/>
  </equality>
  <actuator>
    <general name="fingers" tendon="opening" biastype="affine" gainprm="{kp}" biasprm="0 -{kp} -{kv}"
      forcelimited="true" forcerange="-{force} {force}"/>
  </actuator>
</mujoco>"""

    def _set_position_mode(self, opening_m: float) -> None:
        m, cfg = self.model, self.config
        m.actuator_gainprm[self._actuator, 0] = cfg.finger_kp
        m.actuator_biasprm[self._actuator, :3] = [0.0, -cfg.finger_kp, -cfg.finger_kv]
        self.data.ctrl[self._actuator] = opening_m - self.gripper.closed_gap_m

    def _set_force_mode(self, force_n: float) -> None:
        m, cfg = self.model, self.config
        m.actuator_gainprm[self._actuator, 0] = 1.0
        m.actuator_biasprm[self._actuator, :3] = [0.0, 0.0, -cfg.finger_kv]
        self.data.ctrl[self._actuator] = -min(force_n, self.gripper.finger_force_n)

    def _move(self, start: np.ndarray, end: np.ndarray, duration_s: float) -> None:
        """Drive the mocap target linearly from ``start`` to ``end`` (positions) in ``duration_s``."""
        cfg = self.config
        steps = max(1, round(duration_s / cfg.timestep_s))
        for k in range(0, steps, cfg.control_every):
            self.data.mocap_pos[0] = start + (end - start) * min(1.0, (k + cfg.control_every) / steps)
            mujoco.mj_step(self.model, self.data, nstep=cfg.control_every)

    def body_pose(self, name: str) -> np.ndarray:
        """Current world pose (4x4) of body ``name``."""
        body = self.data.body(name)
        pose = np.eye(4)
        pose[:3, :3] = body.xmat.reshape(3, 3)
        pose[:3, 3] = body.xpos
        return pose

    def finger_gap_m(self) -> float:
        """Current gap between the finger pads."""
        q = [float(self.data.qpos[a]) for a in self._finger_qpos]
        return self.gripper.closed_gap_m + sum(q)

    def run(
        self, target: str, grasp_world: np.ndarray, pre_grasp_world: np.ndarray, opening_m: float
    ) -> TrialResult:
        """Simulate one grasp of object ``target`` (TCP poses in the world frame)."""
        if target not in self.objects:
            raise ValueError(f"unknown object {target!r}; have {sorted(self.objects)}")
        cfg = self.config
        mujoco.mj_resetData(self.model, self.data)
        quat = _quat_wxyz(grasp_world[:3, :3])
        start, goal = pre_grasp_world[:3, 3].copy(), grasp_world[:3, 3].copy()
        self.data.qpos[self._hand_qpos : self._hand_qpos + 3] = start
        self.data.qpos[self._hand_qpos + 3 : self._hand_qpos + 7] = quat
        q = float(self.gripper.joint_value_m(opening_m))
        for adr in self._finger_qpos:
            self.data.qpos[adr] = q
        self.data.mocap_pos[0], self.data.mocap_quat[0] = start, quat
        self._set_position_mode(opening_m)
        mujoco.mj_forward(self.model, self.data)
        z0, rotation0 = self.body_pose(target)[2, 3], self.body_pose(target)[:3, :3]

        self._move(start, start, cfg.settle_s)
        self._move(start, goal, cfg.approach_s)
        self._set_force_mode(cfg.grasp_force_n)
        self._move(goal, goal, cfg.close_s)
        lifted = goal + np.array([0.0, 0.0, cfg.lift_m])
        self._move(goal, lifted, cfg.lift_s)
        self._move(lifted, lifted, cfg.hold_s)

        obj_pose = self.body_pose(target)
        hand = self.body_pose("hand")
        world = self._samples[target] @ obj_pose[:3, :3].T + obj_pose[:3, 3]
        local = (world - hand[:3, 3]) @ hand[:3, :3]
        gap = self.finger_gap_m()
        low, high = self.gripper.closing_bounds(float(np.clip(gap, 0.0, self.gripper.max_opening_m)))
        tol = np.array([0.005, 0.003, 0.005])
        between = bool(np.any(np.all((local >= low - tol) & (local <= high + tol), axis=1)))
        rise = float(obj_pose[2, 3] - z0)
        tilt = np.degrees(Rotation.from_matrix(obj_pose[:3, :3] @ rotation0.T).magnitude())
        return TrialResult(bool(between and rise >= 0.5 * cfg.lift_m), rise, between, gap, float(tilt))
