"""Run a trained policy (TWIST's `legged_gym/scripts/play.py`).

    python legged_gym/scripts/play.py --task g1_priv_mimic --proj_name g1_priv_mimic --exptid T1 --num_envs 1 --record_video
    python legged_gym/scripts/play.py --task g1_stu_rl --proj_name g1_stu_rl --exptid S1 --teacher_exptid T1 --num_envs 1 --record_video
    python legged_gym/scripts/play.py --task g1_stu_rl --exptid S1 --use_jit      # the newest export in traced/
    python legged_gym/scripts/play.py --task g1_stu_rl --exptid S1 --use_jit --checkpoint 500   # S1-500-jit.pt
    python legged_gym/scripts/play.py --task g1_stu_rl --policy_path assets/twist_general_motion_tracker.pt   # any export

Loads `model_<checkpoint>.pt` (--checkpoint, -1: latest) of `<log root>/<proj_name>/<exptid>/` (this
project's or TWIST's; student tasks also need the teacher, as in TWIST, unless --use_jit; a checkpoint of
another task stops before anything is built), applies the play-mode overrides
(`set_play_cfg`) and runs the policy on its normalised observations (--use_jit: the
TorchScript model on raw observations). With a display (and without --headless) a MuJoCo passive
viewer shows env 0 (a display that does not work, e.g. a stale DISPLAY: a note, and no viewer); --record_video writes `<log root>/videos/<proj_name>-<exptid>-<iteration>.mp4`
(`...-<iteration>-jit.mp4` with --use_jit, `<proj_name>-<model file stem>.mp4` with --policy_path and no
--exptid; 50 fps, offscreen MuJoCo rendering: MUJOCO_GL=egl or
osmesa without a display; a MUJOCO_GL set in the environment that cannot render is refused at start);
--record_log writes env 0's per-step state to
`<log root>/env_logs/<same name>.json`. --steps sets the number of policy
steps (default: 10 s when recording a video, also with --headless, whose episodes end at their clip's
end: env 0 then goes on with the next clip; one episode with --record_log alone; else 100 episodes).
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file: make `legged_gym.scripts` importable from any cwd
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import legged_gym.scripts.isaacgym_first  # noqa: F401,E402  (before torch)
from legged_gym.scripts import render  # noqa: E402  (imports no mujoco)

if "--record_video" in sys.argv[1:]:  # MUJOCO_GL is read when mujoco is imported: choose it first
    try:
        render.select_gl_backend(check=True, log=print)
    except RuntimeError as _e:
        raise SystemExit("play.py --record_video: {}".format(_e))

import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import List, Optional, Sequence  # noqa: E402

import torch  # noqa: E402

from legged_gym.envs.base.humanoid_mimic_config import set_play_cfg  # noqa: E402
from legged_gym.gym_utils.helpers import (
    UsageError,
    build_parser,
    check_device,
    check_motion_file,  # noqa: E402
    check_sim,
    checkpoint_iteration,
    experiment_dir,
    get_args,
    log_root,
    one_line,
    run_script,
    trained_set_items,
    warn_unrepeated_items,
)
from legged_gym.gym_utils.task_registry import task_registry, use_task_hint  # noqa: E402
from legged_gym.gym_utils.cfg_override import (  # noqa: E402
    effective_overrides,
    has_setting,
    set_flags,
    unrepeated_env_items,
)
from legged_gym.scripts.save_jit_stu_rlbc import (  # noqa: E402
    export_settings,
    observation_settings,
    read_export_metadata,
)
from rsl_rl.utils.checkpoint import read_checkpoint  # noqa: E402
from rsl_rl.utils.checkpoint import model_file_kind  # noqa: E402


def run_export(proj_name: str, exptid: str, checkpoint: int = -1) -> Path:
    """The export of checkpoint `checkpoint` in `<run>/traced/` (`<exptid>-<checkpoint>-jit.pt`); with -1
    the newest `*jit*.pt` (highest checkpoint number). FileNotFoundError naming the exports there and the
    to_jit.sh command that writes the one asked for."""
    traced = Path(experiment_dir(proj_name, exptid)) / "traced"
    files = sorted(traced.glob("*jit*.pt")) if traced.is_dir() else []
    command = "bash to_jit.sh {} {}{}".format(
        exptid, proj_name, "" if checkpoint == -1 else " --checkpoint {}".format(checkpoint)
    )
    if not files:
        raise FileNotFoundError("{}: no exported model (*jit*.pt); run: {}".format(traced, command))
    if checkpoint != -1:
        path = traced / "{}-{}-jit.pt".format(exptid, checkpoint)
        if not path.is_file():
            raise FileNotFoundError(
                "{}: no export of checkpoint {} (have: {}); run: {}".format(
                    traced, checkpoint, ", ".join(p.name for p in files), command
                )
            )
        return path

    def number(p: Path) -> int:
        m = re.search(r"-(\d+)-jit", p.name)
        return int(m.group(1)) if m else -1

    return max(files, key=lambda p: (number(p), p.stat().st_mtime))


def jit_model_path(args) -> Path:
    """The exported model --use_jit runs: --policy_path (an existing TorchScript file: ValueError saying what
    it is otherwise), or the run's export of --checkpoint (`run_export`)."""
    if not args.policy_path:
        return run_export(args.proj_name, args.exptid, int(args.checkpoint))
    path = Path(args.policy_path)
    if not path.is_file():
        raise FileNotFoundError(
            "--policy_path {}: no such file (an exported student: to_jit.sh writes <exptid>-<iteration>-jit.pt)".format(
                path
            )
        )
    kind = model_file_kind(path)
    if kind == "checkpoint":
        raise ValueError(
            "--policy_path {}: a training checkpoint, not an exported model: play or evaluate a checkpoint with "
            "--exptid <its run> [--checkpoint N] instead, or export it first (bash to_jit.sh <exptid> [proj_name])".format(
                path
            )
        )
    if kind == "onnx":
        raise ValueError(
            "--policy_path {}: an ONNX model; play.py and eval.py run the TorchScript export that to_jit.sh writes "
            "beside it (<exptid>-<iteration>-jit.pt)".format(path)
        )
    if kind != "torchscript":
        raise ValueError("--policy_path {}: not a TorchScript model (truncated or corrupt?)".format(path))
    return path


def check_export(model_path, args) -> None:
    """ValueError unless the exported model takes the observations of task args.task (tried on zeros):
    naming its width when its metadata records one, and the tasks of that width."""
    expected = task_registry.policy_sizes(args.task, args.overrides)
    if expected is None:
        return
    width = expected["num_observations"]
    try:
        model = torch.jit.load(str(model_path), map_location="cpu")
    except RuntimeError as e:
        raise ValueError("{}: not a TorchScript model that loads ({})".format(model_path, one_line(e)[:200])) from None
    try:
        with torch.no_grad():
            model(torch.zeros(1, width))
        return
    except Exception as e:  # the export's own check (a RuntimeError), or a shape error inside the graph
        reason = (str(e).strip().splitlines() or [type(e).__name__])[-1]
    shape = ((read_export_metadata(model_path) or {}).get("input") or {}).get("shape") or []
    takes = int(shape[-1]) if shape and isinstance(shape[-1], int) else None
    raise ValueError(
        "{}: the exported model does not take the {} observations of task {}{}".format(
            model_path,
            width,
            args.task,
            ": it takes {}; {}".format(takes, use_task_hint(task_registry.tasks_with(num_observations=takes)))
            if takes
            else " ({})".format(reason[:200]),
        )
    )


def output_stem(proj_name: str, exptid: Optional[str], model_path, use_jit: bool) -> str:
    """`<proj>-<exptid>-<iteration>` (checkpoint) or `<proj>-<exptid>-<iteration>-jit` (exported model):
    the name of play's video and env log; `<proj>-<model file stem>` for a --policy_path without --exptid."""
    if exptid is None:
        return "{}-{}".format(proj_name, Path(model_path).stem)
    stem = "{}-{}-{}".format(proj_name, exptid, checkpoint_iteration(model_path))
    return stem + "-jit" if use_jit else stem


def resolve_model(args, train_cfg) -> Path:
    """The model `load_policy` will load: the newest export (--use_jit) or the checkpoint (students also
    check their teacher's); a missing one is a UsageError, raised before anything is built."""
    try:
        if args.use_jit:
            jit_path = jit_model_path(args)
            adopt_export_settings(jit_path, args)
            check_export(jit_path, args)
            return jit_path
        teacher = None
        if getattr(train_cfg, "runner_class_name", "") == "OnPolicyDaggerRunner":
            teacher = task_registry.teacher_checkpoint(args)  # students need their teacher to build the runner
        train_cfg.runner.resume = True
        path = task_registry.resume_checkpoint(args, train_cfg)
        assert path is not None  # runner.resume is set: a checkpoint path or an error
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from e
    task_registry.check_checkpoint(path, args)
    if teacher is not None:
        task_registry.check_checkpoint(teacher, args, teacher=True)
    trained = trained_set_items(read_checkpoint(path))
    subject = "{} was trained".format(path)
    adopt_trained_settings(observation_settings(trained), args, subject)
    adopt_network_settings(trained, args, subject)
    warn_unrepeated_items(trained, args, subject)  # (warn_unrepeated_settings, without reading the file again)
    return path


def adopt_trained_settings(trained: Sequence[str], args, subject: str) -> None:
    """Play with the observation a model was trained with: of the --set items `trained` (its observation
    settings, `save_jit_stu_rlbc.export_settings`), those this command leaves at another value without a
    --set of its own go before its --set items (`args.overrides`), named in one line; one it --sets to
    another value is warned about, and its --set wins. `subject`: "<model> was trained"."""
    env_cfg, _ = task_registry.get_cfgs(args.task)
    given = effective_overrides(args.overrides or [])
    adopted = []
    for item in unrepeated_env_items(trained, args.overrides or [], env_cfg):
        path = next(iter(effective_overrides([item])))
        if path not in given and has_setting(env_cfg, path):
            adopted.append(item)
    prepend_adopted(adopted, args, subject, "played with them (a --set of this command would win)")
    warn_unrepeated_items(trained, args, subject, "its observation differs from training")


#: the `policy` settings that shape a network (what a checkpoint's weights load into); the others
#: (init_noise_std, init_std_from_teacher) only start a training run
NETWORK_SETTINGS = (
    "actor_hidden_dims",
    "critic_hidden_dims",
    "activation",
    "layer_norm",
    "motion_latent_dim",
    "tanh_encoder_output",
    "fix_action_std",
    "action_std",
    "estimator_fields",
    "estimator_hidden_dims",
)


def adopt_network_settings(trained: Sequence[str], args, subject: str) -> None:
    """The `NETWORK_SETTINGS` items of a checkpoint's --set items `trained` (a state estimator's fields,
    layer sizes) that this command does not --set and this task has go before its --set items, named in
    one line: a checkpoint loads only into the network it was trained with (an export carries its network).
    One the command sets to another value keeps the command's value, with a warning naming both."""
    _, train_cfg = task_registry.get_cfgs(args.task)
    given = effective_overrides(args.overrides or [])
    network = [
        (path, value, item)
        for path, (value, item) in effective_overrides(trained).items()
        if len(path) == 2 and path[0] == "policy" and path[1] in NETWORK_SETTINGS and has_setting(train_cfg, path)
    ]
    prepend_adopted(
        [item for path, _, item in network if path not in given], args, subject, "its network is built with them"
    )
    overridden = [(item, given[path][1]) for path, value, item in network if path in given and given[path][0] != value]
    if overridden:
        print(
            "WARNING: {} with {}; this command gives {} instead, which is used: the weights may not load "
            "into that network, or act otherwise than in training.".format(
                subject,
                set_flags([item for item, _ in overridden]),
                set_flags([item for _, item in overridden]),
            ),
            flush=True,
        )


def prepend_adopted(adopted: Sequence[str], args, subject: str, what: str) -> None:
    """Puts the adopted --set items before the command's (its own win), named in one line
    "<subject> with --set ...: <what>"; nothing for none."""
    if adopted:
        args.overrides = list(adopted) + list(args.overrides or [])
        print("{} with {}: {}".format(subject, set_flags(adopted), what), flush=True)


def adopt_export_settings(model_path, args) -> None:
    """`adopt_trained_settings` for an exported student: the settings of its metadata (`export_settings`;
    TWIST's exports carry none)."""
    meta = read_export_metadata(model_path)
    if meta:
        adopt_trained_settings(export_settings(meta), args, "{} was exported from a student trained".format(model_path))


def load_policy(env, args):
    """callable(obs) -> action means: the TorchScript model (--use_jit) or the runner's inference policy."""
    if args.use_jit:
        path = jit_model_path(args)
        print("Loading exported model from {}".format(path))
        model = torch.jit.load(str(path), map_location=env.device)
        model.eval()
        return model
    return checkpoint_runner(env, args).get_inference_policy(device=env.device)


def checkpoint_runner(env, args):
    """The runner of the checkpoint that args name (`resolve_model`), loaded for inference."""
    _, train_cfg = task_registry.get_cfgs(args.task)
    train_cfg.runner.resume = True
    args.allow_teacher_change = True  # playing a student does not use its teacher's actions: only note a change
    runner, _ = task_registry.make_alg_runner(env=env, name=args.task, args=args, train_cfg=train_cfg, log_root=None)
    return runner


def default_steps(args, episode_length_s: float, max_episode_length: int, dt: float) -> int:
    """The policy steps play runs without --steps: a video lasts the recording episode of `set_play_cfg`
    (`episode_length_s`, 10 s), with --headless too, where the env's episodes end at their clip's end instead
    (`max_episode_length`: the longest clip) and env 0 goes on with the next clip; else one env episode
    with --record_log, 100 without."""
    if args.record_video:
        return int(math.ceil(episode_length_s / dt))  # as the env counts an episode of that length
    return max_episode_length if args.record_log else 100 * max_episode_length


def require_model_args(args) -> None:
    """UsageError unless the command names a model: --exptid (a run) or --policy_path (an export)."""
    if not args.exptid and not args.policy_path:
        raise UsageError(
            "--exptid is required (the run under {}), or --policy_path FILE (an exported model)".format(
                experiment_dir(args.proj_name, "<exptid>")
            )
        )


def play(args) -> dict:
    require_model_args(args)
    check_device(args.device)
    check_sim(args.sim)
    check_motion_file(args.motion_file)
    if args.record_video:
        try:
            render.select_gl_backend(check=True, log=print)  # no-op when chosen at import (run as a script)
        except RuntimeError as e:
            raise UsageError("--record_video: {}".format(e)) from e
    task_registry.ensure_registered(args.task)
    try:
        env_cfg, train_cfg = task_registry.get_cfgs(args.task)
    except KeyError as e:  # UnknownTaskError: names the registered tasks
        raise UsageError("--task {}".format(e)) from e
    env_cfg.seed = train_cfg.seed
    set_play_cfg(env_cfg, num_envs=args.num_envs, record_video=args.record_video)
    model_path = resolve_model(args, train_cfg)  # fail before building anything when a model is missing
    # Outputs carry the checkpoint, so playing the exported model does not overwrite the checkpoint's video.
    stem = output_stem(args.proj_name, args.exptid, model_path, args.use_jit)

    env, env_cfg = task_registry.make_env(name=args.task, args=args, env_cfg=env_cfg)
    policy = load_policy(env, args)

    viewer = recorder = mirror = None
    show = not args.headless and render.has_display()
    problem = render.display_problem() if show else None
    if problem is not None:  # a stale DISPLAY: GLFW would end the process from C when the viewer opens
        print("play.py: {}: running without a viewer (--headless to say so)".format(problem))
        show = False
    if args.record_video or show:
        mirror = render.Env0Mirror()
    if show:
        assert mirror is not None  # made above for the viewer
        viewer = render.PassiveViewer(mirror)
    video_path = os.path.join(log_root(), "videos", stem + ".mp4")
    if args.record_video:
        try:
            assert mirror is not None  # made above for the video
            recorder = render.VideoRecorder(video_path, mirror)
        except RuntimeError as e:
            raise UsageError("--record_video: {}".format(e)) from e
    log_rows: Optional[List[dict]] = [] if args.record_log else None

    steps = args.steps
    if steps is None:
        steps = default_steps(args, env_cfg.env.episode_length_s, int(env.max_episode_length), env.dt)
    print(
        "Playing {} steps of {} ({} envs, {}){}".format(
            steps, args.task, env.num_envs, args.sim, ", recording " + video_path if recorder else ""
        )
    )
    obs = env.get_observations()
    t_next = time.time()
    try:
        for _ in range(steps):
            with torch.no_grad():
                actions = policy(obs.detach())
            obs, _, _, _, _ = env.step(actions.detach())
            if mirror is not None:
                mirror.set_state(env.root_states[0].cpu(), env.dof_pos[0].cpu())
            if recorder is not None:
                recorder.capture()
            if log_rows is not None:
                log_rows.append(render.env0_log_row(env, actions))
            if viewer is not None:
                if not viewer.is_running():
                    break
                viewer.sync()
                t_next += env.dt  # real time
                time.sleep(max(0.0, t_next - time.time()))
    finally:
        if recorder is not None:
            recorder.close()
            print("Video written to {} ({} frames)".format(video_path, recorder.frames))
        if viewer is not None:
            viewer.close()
    result = {"steps": steps}
    if recorder is not None:
        result["video"] = video_path
    if log_rows is not None:
        log_path = os.path.join(log_root(), "env_logs", stem + ".json")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as f:
            json.dump({"dt": env.dt, "steps": log_rows}, f)
        print("Env 0 log written to {}".format(log_path))
        result["log"] = log_path
    return result


def parser():
    p = build_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="policy steps to run (default: 10 s with --record_video, one episode with --record_log, else 100 episodes)",
    )
    return p


def main(argv=None) -> dict:
    return run_script("play.py", play, get_args(argv, parser=parser()))


if __name__ == "__main__":
    main()
