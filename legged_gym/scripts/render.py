"""MuJoCo rendering for play.py: the passive viewer and offscreen mp4 recording of env 0.

Whatever backend simulates, env 0's state (root pose from `root_states`, joint angles from
`dof_pos`) is copied every frame into a CPU `mujoco.MjData` of the training MJCF and drawn there.

Offscreen rendering needs an OpenGL backend. MuJoCo picks it from the environment variable
MUJOCO_GL when `mujoco` is first imported: `glfw` (needs a display), `egl` (headless GPU, or Mesa's
software EGL: Debian packages libegl1 + libegl-mesa0) or `osmesa` (Debian package libosmesa6).
`select_gl_backend()` must therefore run before anything imports mujoco (the mjwarp backend does):
without a display and without MUJOCO_GL it tries egl, then osmesa, each in a child process.
`display_problem()` says whether a display named in the environment really opens a window (the deploy
servers ask it before MuJoCo's viewer, which ends the process from C when GLFW cannot start).
"""

from __future__ import annotations

import functools
import math
import os
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Tuple

OFFSCREEN_BACKENDS = ("egl", "osmesa")
#: Makes a context and MuJoCo's renderer context in it: creating a GLContext alone is not a test (MuJoCo's
#: glfw context only warns when GLFW cannot open the display). On failure the last line of stderr is the
#: first warning seen (GLFW's own message, e.g. "X11: Failed to open display :99"), else the error.
_PROBE = """
import re, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        import mujoco
        c = mujoco.GLContext(16, 16)
        c.make_current()
        r = mujoco.MjrContext(mujoco.MjModel.from_xml_string("<mujoco/>"), mujoco.mjtFontScale.mjFONTSCALE_100)
        r.free()
        c.free()
    except Exception as e:
        seen = [str(w.message) for w in caught]
        glfw = re.match(r"\\(\\d+\\) b.(.*).$", seen[0]) if seen else None  # "(65550) b'X11: ...'"
        sys.exit(glfw.group(1) if glfw else seen[0] if seen else "{}: {}".format(type(e).__name__, e))
print("ok")
"""

#: Camera of TWIST's play videos: 1440 x 960 pixels, 50 fps, placed at root + (0, -1.5, 0.3) m
#: and looking at the root, with Isaac Gym's default 90 degree horizontal field of view.
VIDEO_WIDTH, VIDEO_HEIGHT, VIDEO_FPS = 1440, 960, 50
CAMERA_OFFSET = (0.0, -1.5, 0.3)
CAMERA_HFOV_DEG = 90.0


def vertical_fov(width: int, height: int, hfov_deg: float = CAMERA_HFOV_DEG) -> float:
    """MuJoCo's fovy (degrees) for a horizontal field of view `hfov_deg` at aspect width/height."""
    return math.degrees(2.0 * math.atan(math.tan(math.radians(hfov_deg) / 2.0) * height / width))


def has_display() -> bool:
    """DISPLAY or WAYLAND_DISPLAY is set (whether it works: `display_problem()`)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _probe_error(backend: str, timeout: float) -> Optional[str]:
    """None when MuJoCo can render with MUJOCO_GL=`backend` (tried in a child process), else why not. Asked
    once per backend and display in a process (play.py and the servers ask again after choosing)."""
    return _probe_once(backend, timeout, os.environ.get("DISPLAY"), os.environ.get("WAYLAND_DISPLAY"))


@functools.lru_cache(maxsize=None)
def _probe_once(backend: str, timeout: float, display: Optional[str], wayland: Optional[str]) -> Optional[str]:
    env = dict(os.environ, MUJOCO_GL=backend)
    env.pop("PYOPENGL_PLATFORM", None)
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timed out after {:g} s".format(timeout)
    if out.returncode == 0 and out.stdout.strip().endswith("ok"):
        return None
    lines = [l for l in (out.stderr or out.stdout).strip().splitlines() if l.strip()]
    return lines[-1].strip() if lines else "exit code {}".format(out.returncode)


def probe_gl_backend(backend: str, timeout: float = 120.0) -> Tuple[bool, str]:
    """Can MuJoCo make an OpenGL context with MUJOCO_GL=`backend`? (ok, reason), in a child process."""
    error = _probe_error(backend, timeout)
    if error is None:
        return True, "MUJOCO_GL={}".format(backend)
    return False, "MUJOCO_GL={}: {}".format(backend, error)


def display_problem(timeout: float = 30.0) -> Optional[str]:
    """None when a window can be opened here (MuJoCo's viewer: GLFW), else why not, in a few words. A
    DISPLAY that names no working X server (a stale DISPLAY=:99) is found out in a child process: in
    this one GLFW would end the interpreter from C when the viewer starts."""
    if not has_display():
        return "no display"
    name = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    error = _probe_error("glfw", timeout)
    return None if error is None else "display {} does not work ({})".format(name, error)


def find_offscreen_backend() -> Tuple[Optional[str], List[str]]:
    """The first of egl, osmesa that works here (None if none), and the reasons of the failures."""
    reasons: List[str] = []
    for backend in OFFSCREEN_BACKENDS:
        ok, reason = probe_gl_backend(backend)
        if ok:
            return backend, reasons
        reasons.append(reason)
    return None, reasons


def select_gl_backend(check: bool = False, log: Optional[Callable[[str], None]] = None) -> Optional[str]:
    """Set MUJOCO_GL for offscreen rendering before mujoco is imported; returns the backend chosen.

    Keeps a MUJOCO_GL the user set; with a display, MuJoCo's default (glfw). Otherwise the first
    working of egl / osmesa; raises RuntimeError with the reasons when none works.
    With `check` (the sim2sim server, which renders its video only at the end of a run) both are tried
    first, in a child process: a MUJOCO_GL the user set that cannot render raises RuntimeError naming
    it, and a display that does not work falls back to egl / osmesa (one line to `log`).
    """
    user = os.environ.get("MUJOCO_GL")
    if user:
        if check:
            error = _probe_error(user, 120.0)
            if error is not None:
                raise RuntimeError(
                    "MUJOCO_GL={} (set in the environment) cannot render here: {}; unset MUJOCO_GL to use a "
                    "working one (glfw with a display, else egl or osmesa), or set it to one that works".format(
                        user, error
                    )
                )
        return user
    if has_display():
        if not check:
            return None
        problem = display_problem()
        if problem is None:
            return None
        if log is not None:
            log("{}: rendering offscreen".format(problem))
    if "mujoco" in sys.modules:
        raise RuntimeError("select_gl_backend() must run before mujoco is imported (MUJOCO_GL is read then)")
    backend, reasons = find_offscreen_backend()
    if backend is None:
        raise RuntimeError(
            "no offscreen OpenGL backend for MuJoCo: {} (install the Debian packages libegl1 and "
            "libegl-mesa0 for egl, or libosmesa6 for osmesa)".format("; ".join(reasons))
        )
    os.environ["MUJOCO_GL"] = backend
    return backend


class Env0Mirror:
    """A CPU MuJoCo model/data of the training MJCF that mirrors env 0's pose."""

    def __init__(self, xml_path=None, dof_names=None) -> None:
        import mujoco

        from pose.g1_model import ASSETS_DIR, load_g1

        self.mujoco = mujoco
        xml_path = xml_path or (ASSETS_DIR / "g1" / "g1_custom_collision_with_fixed_hand.xml")
        self.model = mujoco.MjModel.from_xml_path(str(xml_path))
        self.data = mujoco.MjData(self.model)
        names = list(dof_names or load_g1().dof_names)
        self._root_adr = int(self.model.jnt_qposadr[self._free_joint()])
        self._dof_adr = [int(self.model.jnt_qposadr[self.model.joint(n).id]) for n in names]
        mujoco.mj_forward(self.model, self.data)

    def _free_joint(self) -> int:
        for j in range(self.model.njnt):
            if self.model.jnt_type[j] == self.mujoco.mjtJoint.mjJNT_FREE:
                return j
        raise ValueError("the training MJCF has no free joint")

    def set_state(self, root_state, dof_pos) -> None:
        """root_state (13,) [pos, quat xyzw, ...] and dof_pos (23,) of one env, as numpy/torch on any device."""
        root = [float(v) for v in root_state[:7]]
        q = self.data.qpos
        a = self._root_adr
        q[a : a + 3] = root[0:3]
        q[a + 3 : a + 7] = [root[6], root[3], root[4], root[5]]  # xyzw -> MuJoCo's wxyz
        for adr, v in zip(self._dof_adr, dof_pos):
            q[adr] = float(v)
        self.mujoco.mj_kinematics(self.model, self.data)

    def root_pos(self):
        return self.data.qpos[self._root_adr : self._root_adr + 3].copy()


def follow_camera(mujoco, cam, lookat, offset=CAMERA_OFFSET) -> None:
    """Free camera at lookat + offset, looking at `lookat`."""
    ox, oy, oz = offset
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.lookat[:] = lookat
    cam.distance = math.sqrt(ox * ox + oy * oy + oz * oz)
    cam.azimuth = math.degrees(math.atan2(-oy, -ox))  # the camera looks along -offset
    cam.elevation = math.degrees(math.atan2(-oz, math.hypot(ox, oy)))


def require_video_writer():
    """imageio, with the ffmpeg writer of the imageio-ffmpeg package; RuntimeError saying what to install."""
    try:
        import imageio
        import imageio_ffmpeg  # noqa: F401  (imageio's ffmpeg writer; ships its own ffmpeg binary)
    except ImportError as e:
        raise RuntimeError(
            "recording videos needs imageio and imageio-ffmpeg ({}): pip install imageio imageio-ffmpeg".format(e)
        )
    return imageio


class VideoRecorder:
    """Offscreen mp4 of env 0 (mujoco.Renderer + imageio's ffmpeg, from the imageio-ffmpeg package)."""

    def __init__(
        self, path, mirror: Env0Mirror, width: int = VIDEO_WIDTH, height: int = VIDEO_HEIGHT, fps: int = VIDEO_FPS
    ) -> None:
        imageio = require_video_writer()
        mujoco = mirror.mujoco
        self.mujoco, self.mirror, self.path = mujoco, mirror, str(path)
        vis = mirror.model.vis.global_
        vis.offwidth, vis.offheight = max(int(vis.offwidth), width), max(int(vis.offheight), height)
        vis.fovy = vertical_fov(width, height)
        self.renderer = mujoco.Renderer(mirror.model, height=height, width=width)
        self.camera = mujoco.MjvCamera()
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.writer = imageio.get_writer(
            self.path, fps=fps, codec="libx264", quality=7, macro_block_size=8, ffmpeg_log_level="error"
        )
        self.frames = 0

    def capture(self) -> None:
        follow_camera(self.mujoco, self.camera, self.mirror.root_pos())
        self.renderer.update_scene(self.mirror.data, camera=self.camera)
        self.writer.append_data(self.renderer.render())
        self.frames += 1

    def close(self) -> None:
        self.writer.close()
        self.renderer.close()


class PassiveViewer:
    """MuJoCo's passive viewer on env 0 (only with a display), camera following the root."""

    def __init__(self, mirror: Env0Mirror) -> None:
        import mujoco.viewer

        self.mirror = mirror
        self.handle = mujoco.viewer.launch_passive(mirror.model, mirror.data, show_left_ui=False, show_right_ui=False)

    def is_running(self) -> bool:
        return self.handle.is_running()

    def sync(self) -> None:
        with self.handle.lock():
            follow_camera(self.mirror.mujoco, self.handle.cam, self.mirror.root_pos())
        self.handle.sync()

    def close(self) -> None:
        self.handle.close()


def env0_log_row(env, actions) -> Dict[str, List[float]]:
    """One --record_log entry of env 0 (TWIST: ang vel, dof pos/vel, action, torque)."""
    return {
        "base_ang_vel": env.base_ang_vel[0].tolist(),
        "dof_pos": env.dof_pos[0].tolist(),
        "dof_vel": env.dof_vel[0].tolist(),
        "action": actions[0].tolist(),
        "torque": env.torques[0].tolist(),
    }
