"""Export a trained student to TorchScript and ONNX (TWIST's `save_jit_stu_rlbc.py`, run by `to_jit.sh`).

    python legged_gym/scripts/save_jit_stu_rlbc.py --robot g1 --proj_name g1_stu_rl --exptid S1 --checkpoint -1

Reads `<log root>/<proj_name>/<exptid>/model_<checkpoint>.pt` (-1: latest; this project's checkpoint or
TWIST's, rsl_rl.utils.checkpoint.read_checkpoint) and writes into its `traced/` folder:

- `<exptid>-<it>-jit.pt`: TorchScript module, observation clip (+-100, as in training) + normaliser +
  student actor: raw observations (batch, 1155) in, action means (batch, 23) out; any other width raises.
  No action clipping, scaling or default pose inside, and the 10-frame history is assembled by the caller.
- `<exptid>-<it>.onnx`: the same function in ONNX (input `obs`, output `actions`, dynamic batch), with
  what a deployer needs in its metadata_props (each value JSON-encoded): joint order, default pose, action
  scale and clip, Kp/Kd, the torque limits of training and of the robot, rates, observation layout and scales,
  `reference_yaw` ("relative" for a student trained with `motion.student_relative_ref_yaw`, else "absolute")
  and `vel_smooth_window` (its `motion.vel_smooth_window`: the reference stream's velocity window);
- `<exptid>-<it>.json`: the same metadata (also inside the TorchScript file, as its extra file
  `deploy_metadata.json`, so each file carries it).

A student whose state estimator estimates `base_lin_vel` (`policy.estimator_fields`) also exports that
estimate, m/s in the base frame: the TorchScript module's method `base_velocity(obs)` and the ONNX
graph's second output `base_lin_vel`. A student trained with `motion.student_ref_correction` has
`drift_feedback` in its metadata (the gains of `motion.ref_correction`): the deploy servers then steer
its reference block from a position dead-reckoned on that estimate (`deploy_real/drift_feedback.py`).

An exported TorchScript student, this project's or TWIST's, is exported again with `--from_jit`:

    python legged_gym/scripts/save_jit_stu_rlbc.py --from_jit assets/twist_general_motion_tracker.pt --out_dir DIR

It writes `DIR/<name>-jit.pt` (the same module, its metadata inside), `<name>.onnx` and `<name>.json`:
the ONNX twin of a file that came without one. The metadata is the file's own; a file without any
(TWIST's exports) gets that of a student trained with TWIST's defaults (absolute reference yaw, the
default velocity window, no drift feedback), marked `"metadata": "assumed: ..."`.

The ONNX file needs the `onnx` package (the project's [dev] extra; skipped with a note without it).
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file: make `legged_gym.scripts` importable from any cwd
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import json  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from legged_gym.envs.mdp.layout import (  # noqa: E402
    EXPORT_METADATA_FILE,
    LAYOUT,
    ObsLayout,
    export_metadata_json,
    export_metadata_sidecar,
    read_export_sidecar,
)
from legged_gym.envs.mdp.observations import OBS_CLIP  # noqa: E402
from legged_gym.gym_utils.helpers import (
    build_parser,
    checkpoint_iteration,
    experiment_dir,  # noqa: E402
    resolve_checkpoint,
    trained_set_items,
    trained_task,
)

if TYPE_CHECKING:
    from rsl_rl.utils.normalizer import Normalizer

#: Robots this exporter knows, by their observation layout: the student's observation width, reference
#: (mimic) block and actions, and the `obs_layout` metadata, all come from it.
ROBOTS: Dict[str, ObsLayout] = {"g1": LAYOUT}


class HardwareRefNN(nn.Module):
    """clip + normaliser + student actor: raw obs (B, num_obs) -> action means (B, num_actions).

    Observations are clipped to +-obs_clip first, as the training environment clips them (docs/decisions.md D13)."""

    def __init__(self, actor: nn.Module, normalizer: Normalizer, num_obs: int, obs_clip: float = OBS_CLIP) -> None:
        super().__init__()
        self.num_obs = int(num_obs)
        self.obs_clip = float(obs_clip)
        self.actor = actor
        self.normalizer = normalizer

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.normalizer.normalize(obs.clamp(-self.obs_clip, self.obs_clip)))


class BaseVelocityNN(nn.Module):
    """clip + normaliser + the student's state estimator: raw obs (B, num_obs) -> its estimate of the
    base-frame velocity (B, 3), m/s: the estimator's `base_lin_vel` columns, whose regression targets
    were normalised by the critic normaliser (`mean`, `scale`: that normaliser's values there)."""

    def __init__(
        self,
        estimator: nn.Module,
        normalizer: Normalizer,
        columns: Sequence[int],
        mean: torch.Tensor,
        scale: torch.Tensor,
        obs_clip: float = OBS_CLIP,
    ) -> None:
        super().__init__()
        self.obs_clip = float(obs_clip)
        self.estimator = estimator
        self.normalizer = normalizer
        self.register_buffer("columns", torch.tensor([int(c) for c in columns]))
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        estimate = self.estimator(self.normalizer.normalize(obs.clamp(-self.obs_clip, self.obs_clip)))
        return estimate.index_select(-1, self.columns) * self.scale + self.mean


class PolicyAndBaseVelocity(nn.Module):
    """obs -> (action means, base-velocity estimate): the ONNX graph of a student with `BaseVelocityNN`."""

    def __init__(self, policy: nn.Module, base_velocity: nn.Module) -> None:
        super().__init__()
        self.policy = policy
        self.base_velocity = base_velocity

    def forward(self, obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.policy(obs), self.base_velocity(obs)


class CheckedPolicy(nn.Module):
    """Scripted shell around the traced policy that rejects inputs of the wrong width."""

    def __init__(self, traced: nn.Module, num_obs: int) -> None:
        super().__init__()
        self.policy = traced
        self.num_obs = int(num_obs)

    def check(self, obs: torch.Tensor) -> None:
        if obs.dim() != 2 or obs.size(1) != self.num_obs:
            raise RuntimeError(
                "policy input must be raw observations of shape (batch, {}), got {}".format(
                    self.num_obs, list(obs.shape)
                )
            )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.check(obs)
        return self.policy(obs)


class CheckedOdometryPolicy(CheckedPolicy):
    """`CheckedPolicy` with the traced `BaseVelocityNN` as the method `base_velocity(obs)`."""

    def __init__(self, traced: nn.Module, traced_base_velocity: nn.Module, num_obs: int) -> None:
        super().__init__(traced, num_obs)
        self.estimator = traced_base_velocity

    @torch.jit.export
    def base_velocity(self, obs: torch.Tensor) -> torch.Tensor:
        self.check(obs)
        return self.estimator(obs)


def base_velocity_model(path, ckpt: dict, model: HardwareRefNN, robot: str = "g1") -> Optional[BaseVelocityNN]:
    """The `BaseVelocityNN` of a student checkpoint whose state estimator estimates base_lin_vel, else None."""
    from rsl_rl.modules.actor_critic_mimic import EstimatingActor
    from rsl_rl.utils.checkpoint import CheckpointError
    from rsl_rl.utils.normalizer import Normalizer

    layout = ROBOTS[robot]
    columns = layout.estimate_columns(ckpt["policy_cfg"].get("estimator_target"), "base_lin_vel")
    if columns is None or not isinstance(model.actor, EstimatingActor):
        return None
    if "critic_normalizer" not in ckpt or ckpt["critic_normalizer"] is None:
        raise CheckpointError(
            "{}: a state estimator without the critic normaliser its targets were scaled by".format(path)
        )
    critic = Normalizer(layout.n_teacher_obs)
    critic.load_state_dict(ckpt["critic_normalizer"])
    index = torch.tensor(layout.priv_info_indices(["base_lin_vel"]))
    return BaseVelocityNN(
        model.actor.estimator,
        model.normalizer,
        columns,
        critic.mean[index],
        critic.std[index] + critic.eps,
    ).eval()


def load_student(path, robot: str = "g1") -> Tuple[HardwareRefNN, dict]:
    """The export module (eval mode, CPU) of a student checkpoint (this project's or TWIST's:
    `read_checkpoint`), and the checkpoint dict."""
    from rsl_rl.modules import ActorCriticMimic
    from rsl_rl.utils.checkpoint import CheckpointError, read_checkpoint
    from rsl_rl.utils.normalizer import Normalizer

    layout = ROBOTS[robot]
    num_obs = layout.n_student_obs
    ckpt = read_checkpoint(path)
    if not ckpt.get("policy_cfg"):
        raise CheckpointError("{}: checkpoint has no 'policy_cfg' entry (have: {})".format(path, sorted(ckpt)))
    policy_cfg = dict(ckpt["policy_cfg"])
    got = (policy_cfg.get("num_observations"), policy_cfg.get("num_motion_observations"), policy_cfg.get("num_actions"))
    want = (num_obs, layout.policy_sizes("student")["num_motion_observations"], layout.num_actions)
    if got != want:
        raise ValueError(
            "{}: not a {} student policy: (observations, reference block, actions) = {}, expected {} "
            "(a teacher checkpoint cannot be deployed: it needs privileged observations)".format(path, robot, got, want)
        )
    ac = ActorCriticMimic(**policy_cfg)
    missing, _ = ac.load_state_dict(ckpt["model_state_dict"], strict=False)
    missing_actor = [k for k in missing if k.startswith("actor.")]
    if missing_actor:
        raise CheckpointError("{}: model_state_dict lacks actor weights {}".format(path, missing_actor))
    normalizer = Normalizer(num_obs)
    normalizer.load_state_dict(ckpt["normalizer"])
    model = HardwareRefNN(ac.actor, normalizer, num_obs).eval()
    return model, ckpt


def trained_value(trained_set: Sequence[str], path: Sequence[str], default):
    """The value of setting `path` (e.g. ["motion", "vel_smooth_window"]) the student was trained with: the
    last of the --set items its checkpoint records (the last wins, as in training), else `default`."""
    from legged_gym.gym_utils.cfg_override import effective_overrides

    return effective_overrides(trained_set).get(tuple(path), (default,))[0]


def reference_yaw(trained_set: Sequence[str]) -> str:
    """ "relative" if the student was trained with `motion.student_relative_ref_yaw`, else "absolute" (TWIST)."""
    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicStuRLCfg

    default = G1MimicStuRLCfg.motion.student_relative_ref_yaw
    relative = bool(trained_value(trained_set, ["motion", "student_relative_ref_yaw"], default))
    return "relative" if relative else "absolute"


def vel_smooth_window(trained_set: Sequence[str]) -> int:
    """The taps of the moving average over the reference velocities the student was trained with
    (`motion.vel_smooth_window`): the deploy stream must use the same (high-level server --vel_smooth_window)."""
    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicStuRLCfg

    return int(trained_value(trained_set, ["motion", "vel_smooth_window"], G1MimicStuRLCfg.motion.vel_smooth_window))


def drift_feedback(trained_set: Sequence[str]) -> Optional[Dict[str, float]]:
    """The drift feedback's settings (`motion.ref_correction`) of a student trained with
    `motion.student_ref_correction`, else None."""
    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicStuRLCfg
    from legged_gym.envs.mdp.drift_feedback import SETTINGS

    if not bool(trained_value(trained_set, ["motion", "student_ref_correction"], False)):
        return None
    c = G1MimicStuRLCfg.motion.ref_correction
    return {k: float(trained_value(trained_set, ["motion", "ref_correction", k], getattr(c, k))) for k in SETTINGS}


def cmg_stream(task: Optional[str], trained_set: Sequence[str]) -> Optional[Dict[str, Any]]:
    """The CMG reference a student of a CMG task (`g1_stu_rl_cmg_*`) was trained on, with its --set items: the
    command band of its episodes (`commands`: a mirrored episode's generator runs under (vx, -vy, -yaw rate)
    but its output is mirrored back, so its reference moves at the episode's own command), the generator
    (`motion.cmg_model`, None: the shipped one) and the frames' settings (`motion.cmg_foot_lock`,
    `cmg_height`, `cmg_height_from_fk`). What the high-level server's --cmg streams for it (--policy_path).
    None for a clip task, a task not registered here, or a checkpoint that does not record its task (train.py
    records it since 2026-12-05)."""
    from legged_gym.envs import task_registry
    from legged_gym.gym_utils.cfg_override import apply_overrides

    if task is None or task not in task_registry.task_names:
        return None
    env_cfg, train_cfg = task_registry.get_cfgs(task)
    if not hasattr(env_cfg.motion, "cmg_model"):
        return None
    apply_overrides(trained_set, env_cfg, train_cfg)
    c, m = env_cfg.commands, env_cfg.motion
    low = [float(r[0]) for r in (c.lin_vel_x, c.lin_vel_y, c.ang_vel_yaw)]
    high = [float(r[1]) for r in (c.lin_vel_x, c.lin_vel_y, c.ang_vel_yaw)]
    return {
        "command_low": low,
        "command_high": high,
        "model": None if m.cmg_model is None else str(m.cmg_model),
        "foot_lock": bool(m.cmg_foot_lock),
        "height": float(m.cmg_height),
        "height_from_fk": bool(m.cmg_height_from_fk),
    }


def export_settings(meta: Dict[str, Any]) -> List[str]:
    """The env --set items an export's metadata stands for (the inverse of `reference_yaw`,
    `vel_smooth_window` and `drift_feedback` above; keys the metadata lacks give no item): what
    play.py / eval.py --use_jit compare with their command."""
    items = []
    if "reference_yaw" in meta:
        items.append("motion.student_relative_ref_yaw={}".format(str(meta["reference_yaw"] == "relative").lower()))
    if "vel_smooth_window" in meta:
        items.append("motion.vel_smooth_window={}".format(int(meta["vel_smooth_window"])))
    if "drift_feedback" in meta:
        feedback = meta["drift_feedback"]
        items.append("motion.student_ref_correction={}".format(str(feedback is not None).lower()))
        for name, value in sorted((feedback or {}).items()):
            items.append("motion.ref_correction.{}={}".format(name, float(value)))
    return items


def observation_metadata(trained_set: Sequence[str]) -> Dict[str, Any]:
    """The metadata entries of the settings that shape a student's observation, from a checkpoint's --set
    items `trained_set`: `reference_yaw`, `vel_smooth_window`, `drift_feedback`."""
    return {
        "reference_yaw": reference_yaw(trained_set),
        "vel_smooth_window": vel_smooth_window(trained_set),
        "drift_feedback": drift_feedback(trained_set),
    }


def observation_settings(trained_set: Sequence[str]) -> List[str]:
    """The env --set items that shape a student's observation among a checkpoint's --set items
    `trained_set`: those its export's metadata would stand for (`export_settings`)."""
    return export_settings(observation_metadata(trained_set))


def read_export_metadata(model_path) -> Optional[Dict[str, Any]]:
    """An exported TorchScript student's metadata as the deploy servers read it: the JSON beside the model
    (`export_metadata_sidecar`) if present, else the one inside the file; None for exports without (TWIST's)."""
    meta = read_export_sidecar(model_path)
    if meta is not None:
        return meta
    extra = {EXPORT_METADATA_FILE: ""}
    torch.jit.load(str(model_path), map_location="cpu", _extra_files=extra)
    text = extra[EXPORT_METADATA_FILE]
    return export_metadata_json(text, "{} ({})".format(model_path, EXPORT_METADATA_FILE)) if text else None


def deploy_metadata(
    robot: str = "g1", trained_set: Sequence[str] = (), task: Optional[str] = None
) -> Dict[str, object]:
    """What a deployer needs beside the network (docs/observations.md, Export metadata); `trained_set`:
    the checkpoint's --set items (for `reference_yaw`, `vel_smooth_window`, `drift_feedback`, `cmg`), `task`
    its training task (for `cmg`; None: unknown)."""
    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicStuRLCfg
    from legged_gym.envs.mdp.layout import ANKLE_DOF_IDS
    from pose.g1_model import load_g1

    g1, cfg = load_g1(), G1MimicStuRLCfg()
    layout = ROBOTS[robot]
    scale = float(cfg.control.action_scale)
    s = cfg.normalization.obs_scales
    obs_layout = layout.student_metadata()  # sizes, slices, history order, field slices
    obs_layout.update(
        {
            "obs_scales": {"ang_vel": float(s.ang_vel), "dof_pos": float(s.dof_pos), "dof_vel": float(s.dof_vel)},
            "zero_dof_vel_ids": list(ANKLE_DOF_IDS),
            "obs_clip": float(cfg.normalization.clip_observations),
        }
    )
    return {
        "robot": robot,
        "input": {
            "name": "obs",
            "shape": ["batch", layout.n_student_obs],
            "content": "raw observations (the normaliser is inside the model)",
        },
        "output": {"name": "actions", "shape": ["batch", layout.num_actions], "content": "action means"},
        "joint_names": list(g1.dof_names),
        "default_joint_pos": [float(v) for v in g1.default_dof_pos],
        "action_scale": scale,
        "action_clip": float(cfg.control.clip_actions) / scale,
        "pd_target": "q_target = default_joint_pos + action_scale * clip(action, -action_clip, action_clip)",
        "kp": [float(v) for v in g1.kp],
        "kd": [float(v) for v in g1.kd],
        "torque_limit_training": [float(v) for v in g1.torque_limit],
        "torque_limit_robot": [float(v) for v in g1.effort],
        "torque_limits": "training clipped simulated torques at torque_limit_training = {} x the joint efforts"
        "; sim2sim and the robot use the full efforts, torque_limit_robot".format(float(g1.torque_safety_limit)),
        "policy_dt": float(cfg.sim.dt) * int(cfg.sim.decimation),
        "sim_dt": float(cfg.sim.dt),
        "decimation": int(cfg.sim.decimation),
        "obs_layout": obs_layout,
        **observation_metadata(trained_set),
        "task": task,
        "cmg": cmg_stream(task, trained_set),
    }


def export(path, out_dir, exptid: str, robot: str = "g1") -> Dict[str, str]:
    """Write the TorchScript, ONNX and JSON files of checkpoint `path` into `out_dir`; returns their paths."""
    model, ckpt = load_student(path, robot)
    num_obs = ROBOTS[robot].n_student_obs
    it = checkpoint_iteration(path)
    if it < 0:  # a file not named model_<it>.pt: the iteration stored in the checkpoint
        it = int(ckpt.get("iter", 0))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / "{}-{}".format(exptid, it)
    example = torch.ones(2, num_obs)
    base_velocity = base_velocity_model(path, ckpt, model, robot)
    meta = deploy_metadata(robot, trained_set_items(ckpt), trained_task(ckpt))
    if meta["drift_feedback"] is not None and base_velocity is None:
        raise ValueError(
            "{}: trained with motion.student_ref_correction but without a state estimator of base_lin_vel "
            "(policy.estimator_fields): a robot could not dead-reckon its drift feedback".format(path)
        )
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        if base_velocity is None:
            scripted = torch.jit.script(CheckedPolicy(traced, num_obs))
        else:
            traced_velocity = torch.jit.trace(base_velocity, example)
            scripted = torch.jit.script(CheckedOdometryPolicy(traced, traced_velocity, num_obs))
    meta.update({"source_checkpoint": str(Path(path).resolve()), "iteration": it, "exptid": exptid})
    jit_path = str(base) + "-jit.pt"
    scripted.save(jit_path, _extra_files={EXPORT_METADATA_FILE: json.dumps(meta)})  # travels with the file
    out = {"jit": jit_path}
    try:
        import onnx  # noqa: F401
    except ImportError:
        print("onnx is not installed: no ONNX export (pip install onnx onnxruntime, or the project's [dev] extra)")
    else:
        out["onnx"] = str(base) + ".onnx"
        graph = model if base_velocity is None else PolicyAndBaseVelocity(model, base_velocity)
        export_onnx(graph, example, out["onnx"], meta)
    out["json"] = str(export_metadata_sidecar(jit_path))
    with open(out["json"], "w") as f:
        json.dump(meta, f, indent=1)
    return out


class ExportedPolicyAndBaseVelocity(nn.Module):
    """obs -> (action means, base-velocity estimate) of an exported TorchScript student with `base_velocity`
    (scripted, for its ONNX graph: a trace cannot call a loaded module's method)."""

    def __init__(self, exported: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.exported = exported

    def forward(self, obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.exported(obs), self.exported.base_velocity(obs)


ASSUMED_METADATA = "assumed: the file carried none; a student trained with TWIST's defaults"


def export_from_jit(jit_path, out_dir, robot: str = "g1") -> Dict[str, str]:
    """Export a TorchScript student again (module docstring, `--from_jit`); returns the written paths."""
    jit_path = Path(jit_path)
    name = jit_path.name[: -len("-jit.pt")] if jit_path.name.endswith("-jit.pt") else jit_path.stem
    out_dir = Path(out_dir)
    out = {"jit": str(out_dir / (name + "-jit.pt"))}
    if Path(out["jit"]).resolve() == jit_path.resolve():
        raise ValueError(
            "{}: --out_dir is its own folder; choose another, the export would replace it".format(jit_path)
        )
    try:
        module = torch.jit.load(str(jit_path), map_location="cpu")
        meta = read_export_metadata(jit_path)
    except (RuntimeError, ValueError) as e:
        raise ValueError("{}: not an exported TorchScript student ({})".format(jit_path, str(e).splitlines()[0]))
    num_obs = ROBOTS[robot].n_student_obs
    example = torch.ones(2, num_obs)
    try:
        with torch.no_grad():
            actions = module(example)
    except RuntimeError as e:
        raise ValueError(
            "{}: does not map (batch, {}) student observations to actions (a teacher export?): {}".format(
                jit_path, num_obs, str(e).strip().splitlines()[-1]
            )
        )
    if not isinstance(actions, torch.Tensor) or tuple(actions.shape) != (2, ROBOTS[robot].num_actions):
        raise ValueError("{}: returns {}, not (batch, {}) actions".format(jit_path, actions, ROBOTS[robot].num_actions))
    if meta is None:
        meta = dict(deploy_metadata(robot), metadata=ASSUMED_METADATA)
    meta.update({"source_file": jit_path.name})
    out_dir.mkdir(parents=True, exist_ok=True)
    module.save(out["jit"], _extra_files={EXPORT_METADATA_FILE: json.dumps(meta)})
    try:
        import onnx  # noqa: F401
    except ImportError:
        print("onnx is not installed: no ONNX export (pip install onnx onnxruntime, or the project's [dev] extra)")
    else:
        out["onnx"] = str(out_dir / (name + ".onnx"))
        has_velocity = hasattr(module, "base_velocity")
        graph = torch.jit.script(ExportedPolicyAndBaseVelocity(module)) if has_velocity else module
        export_onnx(graph, example, out["onnx"], meta)
    out["json"] = str(export_metadata_sidecar(out["jit"]))
    with open(out["json"], "w") as f:
        json.dump(meta, f, indent=1)
    return out


def export_onnx(model: nn.Module, example: torch.Tensor, path: str, meta: Dict[str, object]) -> None:
    import inspect

    import onnx

    with torch.no_grad():
        two = isinstance(model(example), tuple)  # PolicyAndBaseVelocity, ExportedPolicyAndBaseVelocity
    outputs = ["actions", "base_lin_vel"] if two else ["actions"]
    kwargs: Dict[str, Any] = dict(
        input_names=["obs"],
        output_names=outputs,
        opset_version=17,
        dynamic_axes=dict({"obs": {0: "batch"}}, **{name: {0: "batch"} for name in outputs}),
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript-based exporter: no onnxscript needed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(model, (example,), path, **kwargs)
    proto = onnx.load(path)
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = json.dumps(value)  # every value JSON-encoded (strings too), so json.loads reads any
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def parser():
    p = build_parser(__doc__.splitlines()[0])
    p.add_argument("--robot", default="g1", choices=sorted(ROBOTS))
    p.add_argument("--from_jit", default=None, metavar="PATH", help="export this TorchScript student again")
    p.add_argument("--out_dir", default=None, help="with --from_jit: where the files go")
    p.set_defaults(proj_name="g1_stu_rl")
    return p


def main(argv=None) -> Dict[str, str]:
    args = parser().parse_args(argv)
    if args.from_jit:
        if not args.out_dir:
            raise SystemExit("save_jit_stu_rlbc.py: --from_jit needs --out_dir")
        try:
            out = export_from_jit(args.from_jit, args.out_dir, args.robot)
        except (FileNotFoundError, ValueError) as e:
            raise SystemExit("save_jit_stu_rlbc.py: {}".format(e))
        for kind, p in out.items():
            print("Saved {} to {}".format(kind, p))
        return out
    if not args.exptid:
        raise SystemExit("save_jit_stu_rlbc.py: --exptid is required")
    run = experiment_dir(args.proj_name, args.exptid)
    try:
        path = resolve_checkpoint(run, args.checkpoint)
    except FileNotFoundError as e:
        raise SystemExit("save_jit_stu_rlbc.py: {}".format(e))
    print("Loading model from {}".format(path))
    try:
        out = export(path, os.path.join(run, "traced"), args.exptid, args.robot)
    except ValueError as e:  # CheckpointError (a ValueError) included: what the file holds
        raise SystemExit("save_jit_stu_rlbc.py: {}".format(e))
    for kind, p in out.items():
        print("Saved {} to {}".format(kind, p))
    return out


if __name__ == "__main__":
    main()
