"""`--set GROUP.NAME=VALUE` (legged_gym/gym_utils/cfg_override.py) on the task's real configs."""

from pathlib import Path

import pytest

from legged_gym.gym_utils.cfg_override import (
    OverrideError,
    apply_overrides,
    parse_overrides,
    read_set_file,
    effective_overrides,
    unrepeated_env_items,
)
from legged_gym.gym_utils.task_registry import task_registry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfgs():
    return task_registry.get_cfgs("g1_priv_mimic")


def test_values_reach_both_configs_with_their_types(cfgs):
    env_cfg, train_cfg = cfgs
    items = [
        "motion.adaptive_sampling=true",
        "algorithm.learning_rate=1e-4",
        "rewards.scales.tracking_keybody_pos=3",
        "env.num_envs=64",
        "motion.motion_file=clips/a.yaml",
        "policy.actor_hidden_dims=[256, 128]",
        "env.compile_mdp=aot_eager",  # off by default (None): a word or a switch
        "algorithm.fast_update=false",  # "auto" by default: a switch stays a bool, not the text "False"
    ]
    assert apply_overrides(items, env_cfg, train_cfg) == [items[0], items[2], items[3], items[4], items[6]]
    assert apply_overrides(items, train_cfg, env_cfg, "train", "env") == [items[1], items[5], items[7]]
    assert env_cfg.env.compile_mdp == "aot_eager" and train_cfg.algorithm.fast_update is False
    assert env_cfg.motion.adaptive_sampling is True
    assert train_cfg.algorithm.learning_rate == 1e-4 and isinstance(train_cfg.algorithm.learning_rate, float)
    assert env_cfg.rewards.scales.tracking_keybody_pos == 3.0 and isinstance(
        env_cfg.rewards.scales.tracking_keybody_pos, float
    )
    assert env_cfg.env.num_envs == 64 and env_cfg.motion.motion_file == "clips/a.yaml"
    assert train_cfg.policy.actor_hidden_dims == [256, 128]
    # the class other configs inherit from is untouched
    fresh, _ = task_registry.get_cfgs("g1_priv_mimic")
    assert fresh.motion.adaptive_sampling is False


@pytest.mark.parametrize(
    "item,message",
    [
        ("motion.adaptive_sampling=3", "expected a bool"),
        ("env.num_envs=1.5", "expected a int"),
        ("algorithm.learning_rate=fast", "expected a float"),
        ("motion.no_such_setting=1", "no setting 'no_such_setting' in motion"),
        ("nogroup.x=1", "no settings group 'nogroup' in the env config"),
        ("rewards.scales=1", "is a group of settings"),
        ("rewards.params.tracking_joint_dof.coef=wide", "expected a float"),
        ("rewards.params.tracking_joint_dof.cof=0.2", "no setting 'cof' in rewards.params.tracking_joint_dof"),
        ("motion.adaptive_sampling", "expected GROUP.NAME=VALUE"),
        ("seed=3", "expected GROUP.NAME=VALUE"),
    ],
)
def test_bad_items_name_the_setting(cfgs, item, message):
    env_cfg, train_cfg = cfgs
    with pytest.raises(OverrideError, match=message) as e:
        apply_overrides([item], env_cfg, train_cfg)
        apply_overrides([item], train_cfg, env_cfg, "train", "env")
    assert item.split("=")[0] in str(e.value)


def test_unknown_group_lists_both_configs(cfgs):
    env_cfg, train_cfg = cfgs
    with pytest.raises(OverrideError) as e:
        apply_overrides(["agorithm.learning_rate=1"], env_cfg, train_cfg)
    assert "motion" in str(e.value) and "algorithm" in str(e.value)


def test_parse_keeps_text_and_nulls():
    assert parse_overrides(["a.b=null", "a.c=some text", "a.d="]) == [
        (["a", "b"], None, "a.b=null"),
        (["a", "c"], "some text", "a.c=some text"),
        (["a", "d"], "", "a.d="),
    ]


def test_set_reaches_the_env_and_the_learner(tmp_path):
    """Through the CLI parser and the task registry, as train.py builds them."""
    pytest.importorskip("mujoco_warp")
    from legged_gym.gym_utils.helpers import get_args

    args = get_args(
        [
            "--task",
            "g1_priv_mimic",
            "--num_envs",
            "2",
            "--sim",
            "mjwarp",
            "--device",
            "cpu",
            "--set",
            "motion.adaptive_sampling=true",
            "--set",
            "algorithm.learning_rate=1e-4",
            "--set",
            "motion.adaptive_bin_s=1",
        ]
    )
    env, env_cfg = task_registry.make_env("g1_priv_mimic", args)
    assert env_cfg.motion.adaptive_sampling is True and env._start_sampler is not None
    assert env._start_sampler.bin_seconds == 1.0
    runner, train_cfg = task_registry.make_alg_runner(env, "g1_priv_mimic", args, log_root=None)
    assert train_cfg.algorithm.learning_rate == 1e-4 and runner.alg.learning_rate == 1e-4


def test_unrepeated_env_items_are_the_env_settings_a_command_leaves_out(cfgs):
    env_cfg, _ = cfgs
    trained = [
        "motion.ref_correction.pos_gain=1.0",
        "motion.ref_correction.yaw_gain=1.0",
        "rewards.scales.tracking_root_vel=2.0",  # training only
        "algorithm.learning_rate=1e-4",  # the train config
        "domain_rand.push_robots=false",
    ]
    given = ["motion.ref_correction.pos_gain=1.0", "motion.ref_correction.yaw_gain=0.5"]  # one repeated, one changed
    assert unrepeated_env_items(trained, given, env_cfg) == [
        "motion.ref_correction.yaw_gain=1.0",
        "domain_rand.push_robots=false",
    ]
    assert unrepeated_env_items(trained, trained, env_cfg) == [] and unrepeated_env_items([], given, env_cfg) == []


def test_unrepeated_env_items_compare_values_not_text(cfgs):
    env_cfg, _ = cfgs
    trained = ["motion.ref_correction.pos_gain=1.0", "motion.vel_smooth_window=5"]
    assert (
        unrepeated_env_items(trained, ["motion.ref_correction.pos_gain=1", "motion.vel_smooth_window=5.0"], env_cfg)
        == []
    )
    # the last item of a path is the one the command applies
    given = ["motion.ref_correction.pos_gain=1.0", "motion.ref_correction.pos_gain=2.0", "motion.vel_smooth_window=5"]
    assert unrepeated_env_items(trained, given, env_cfg) == ["motion.ref_correction.pos_gain=1.0"]


def test_unrepeated_env_items_reads_the_trained_setting_that_took_effect(cfgs):
    """A run trained with a recipe file's gain 1.0 overridden by --set ... =2.0 records both items; only the
    last took effect, so a command that repeats 2.0 repeats the training and one that gives 1.0 does not."""
    env_cfg, _ = cfgs
    trained = ["motion.ref_correction.pos_gain=1.0", "motion.vel_smooth_window=5", "motion.ref_correction.pos_gain=2.0"]
    assert (
        unrepeated_env_items(trained, ["motion.ref_correction.pos_gain=2", "motion.vel_smooth_window=5"], env_cfg) == []
    )
    assert unrepeated_env_items(
        trained, ["motion.ref_correction.pos_gain=1.0", "motion.vel_smooth_window=5"], env_cfg
    ) == ["motion.ref_correction.pos_gain=2.0"]


def test_a_trained_setting_equal_to_the_task_default_needs_no_repeating(cfgs):
    """A command that leaves a setting out gets the task's default: no warning when the run was trained with
    that value, one when the command's value or the default differs from it."""
    env_cfg, _ = cfgs
    default = env_cfg.motion.vel_smooth_window
    trained = ["motion.vel_smooth_window={}".format(default), "motion.ref_correction.pos_gain=2.0"]
    assert unrepeated_env_items(trained, [], env_cfg) == ["motion.ref_correction.pos_gain=2.0"]
    other = "motion.vel_smooth_window={}".format(default + 2)
    assert unrepeated_env_items(trained, [other, "motion.ref_correction.pos_gain=2"], env_cfg) == [trained[0]]


def test_effective_overrides_keeps_the_last_item_of_each_path_in_order():
    items = ["a.x=1", "b.y=true", "a.x=2.5"]
    assert effective_overrides(items) == {("b", "y"): (True, "b.y=true"), ("a", "x"): (2.5, "a.x=2.5")}
    assert list(effective_overrides(items)) == [("b", "y"), ("a", "x")]


def _write(tmp_path, text, name="recipe.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_set_file_items_nested_and_dotted_keys_reach_the_configs(tmp_path, cfgs):
    env_cfg, train_cfg = cfgs
    path = _write(
        tmp_path,
        "motion:\n  ref_correction:\n    pos_gain: 2\n  motion_file: clips/a b.yaml\n"
        "rewards.scales.tracking_keybody_pos: 3.5\n"
        "policy.actor_hidden_dims: [256, 128]\n"
        "algorithm:\n  fast_update: false\n"
        "motion.key_bodies: null\n",
    )
    items = read_set_file(path)
    assert [item.partition("=")[0] for item in items] == [
        "motion.ref_correction.pos_gain",
        "motion.motion_file",
        "rewards.scales.tracking_keybody_pos",
        "policy.actor_hidden_dims",
        "algorithm.fast_update",
        "motion.key_bodies",
    ]
    apply_overrides(items, env_cfg, train_cfg)
    apply_overrides(items, train_cfg, env_cfg, "train", "env")
    assert env_cfg.motion.ref_correction.pos_gain == 2.0 and isinstance(env_cfg.motion.ref_correction.pos_gain, float)
    assert env_cfg.motion.motion_file == "clips/a b.yaml"
    assert env_cfg.rewards.scales.tracking_keybody_pos == 3.5
    assert train_cfg.policy.actor_hidden_dims == [256, 128] and train_cfg.algorithm.fast_update is False
    assert env_cfg.motion.key_bodies is None


def test_set_file_is_read_before_the_set_items(tmp_path):
    from legged_gym.gym_utils.helpers import get_args

    path = _write(tmp_path, "motion:\n  vel_smooth_window: 5\n  adaptive_sampling: true\n")
    args = get_args(["--set_file", path, "--set", "motion.vel_smooth_window=7", "--device", "cpu", "--sim", "mjwarp"])
    assert args.overrides == [
        "motion.vel_smooth_window=5",
        "motion.adaptive_sampling=true",
        "motion.vel_smooth_window=7",
    ]
    env_cfg, train_cfg = task_registry.get_cfgs("g1_priv_mimic")
    apply_overrides(args.overrides, env_cfg, train_cfg)
    assert env_cfg.motion.vel_smooth_window == 7 and env_cfg.motion.adaptive_sampling is True


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "cannot read it"),
        ("", "an empty file"),
        ("- motion.vel_smooth_window=5\n", "expected a mapping of GROUP.NAME: VALUE"),
        ("motion: [1\n", "not valid YAML"),
        ("vel_smooth_window: 5\n", "expected GROUP.NAME=VALUE"),
    ],
)
def test_set_file_errors_name_the_file(tmp_path, capsys, text, message):
    from legged_gym.gym_utils.helpers import get_args

    path = str(tmp_path / "missing.yaml") if text is None else _write(tmp_path, text)
    with pytest.raises(SystemExit) as e:
        get_args(["--set_file", path, "--device", "cpu", "--sim", "mjwarp"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--set_file " in err and message in err
    if text is not None:
        assert path in err


def _train_args(file, name):
    """The train.py arguments of run NAME in bench/results/FILE: bench/train_demo.sh's TEACHER_ARGS, what
    follows legged_gym/scripts/train.py in a direct call, or what follows the positional arguments of
    train_teacher.sh (2) or train_student.sh (3). A note after the command (from "; ") is not part of it."""
    import json
    import shlex

    (run,) = [r for r in json.loads((REPO / "bench" / "results" / file).read_text())["runs"] if r["name"] == name]
    words = shlex.split(run["train_command"].partition("; ")[0])
    demo_args = [w.partition("=")[2] for w in words if w.startswith("TEACHER_ARGS=")]
    if demo_args:
        return shlex.split(demo_args[0])
    if "legged_gym/scripts/train.py" in words:
        return words[words.index("legged_gym/scripts/train.py") + 1 :]
    script, positional = ("train_student.sh", 3) if "train_student.sh" in words else ("train_teacher.sh", 2)
    return words[words.index(script) + 1 + positional :]


def _set_items(args):
    """The --set items of train.py arguments, but the run's length (runner.max_train_minutes)."""
    items = [args[i + 1] for i, w in enumerate(args) if w == "--set"]
    return [item for item in items if not item.startswith("runner.max_train_minutes=")]


def _values(items):
    return {tuple(path): value for path, value, _ in parse_overrides(items)}


def test_shipped_recipe_is_the_measured_run(cfgs):
    """legged_gym/recipes/teacher_drift_feedback.yaml holds the settings of the runs its header quotes:
    the 8 --set items of teacher_drift_feedback_angw01 (2026-12-01) plus motion.relative_ref_yaw=true,
    which teacher_relative_ref_yaw (2026-12-02) added on the command line to the file of that time,
    plus algorithm.symmetry_coef=0.5, which teacher_symmetry_it1000 (2026-12-03) added likewise; its
    resumptions teacher_symmetry_it1500 and teacher_symmetry_it1950, and its second seed in one run,
    teacher_seed2_it2200, were trained with the file alone."""
    recipe = REPO / "legged_gym" / "recipes" / "teacher_drift_feedback.yaml"
    base = _set_items(_train_args("tracking_quality_h200_2026-12-01.json", "teacher_drift_feedback_angw01"))
    assert len(base) == 8
    added = _train_args("tracking_quality_h200_2026-12-02.json", "teacher_relative_ref_yaw")
    assert added[added.index("--set_file") + 1] == "legged_gym/recipes/teacher_drift_feedback.yaml"
    assert _set_items(added) == ["motion.relative_ref_yaw=true"]
    symmetry = _train_args("tracking_quality_2026-12-03.json", "teacher_symmetry_it1000")
    assert symmetry[symmetry.index("--set_file") + 1] == "legged_gym/recipes/teacher_drift_feedback.yaml"
    learning = [item for item in _set_items(symmetry) if not item.startswith("runner.")]
    assert learning == ["algorithm.symmetry_coef=0.5"]
    for name in ("teacher_symmetry_it1500", "teacher_symmetry_it1950", "teacher_seed2_it2200"):
        resumed = _train_args("tracking_quality_2026-12-03.json", name)
        assert resumed[resumed.index("--set_file") + 1] == "legged_gym/recipes/teacher_drift_feedback.yaml"
        assert [item for item in _set_items(resumed) if not item.startswith("runner.")] == []
    text = recipe.read_text()
    quoted = ("teacher_drift_feedback_angw01", "teacher_relative_ref_yaw_19min", "teacher_symmetry_it1000")
    for run in quoted + ("teacher_symmetry_it1500", "teacher_symmetry_it1950", "teacher_seed2_it2200"):
        assert "run " + run in text

    assert _values(read_set_file(str(recipe))) == _values(base + _set_items(added) + learning)
    env_cfg, train_cfg = cfgs
    assert env_cfg.motion.relative_ref_yaw is False and train_cfg.algorithm.symmetry_coef == 0.0
    assert len(apply_overrides(read_set_file(str(recipe)), env_cfg, train_cfg)) == 9
    assert apply_overrides(read_set_file(str(recipe)), train_cfg, env_cfg, "train", "env") == learning
    assert env_cfg.rewards.params.tracking_root_vel.ang_weight == 0.1
    assert env_cfg.motion.relative_ref_yaw is True and train_cfg.algorithm.symmetry_coef == 0.5


@pytest.mark.parametrize("task", ["g1_stu_rl", "g1_stu_rl_cmg_medium"])
def test_student_recipe_sets_the_distillation_settings(task):
    """legged_gym/recipes/student_fast_distill.yaml names real settings of the students' learner
    config: the std from the teacher and a KL weight of 1.0 (TWIST's defaults: off and 0.1)."""
    recipe = REPO / "legged_gym" / "recipes" / "student_fast_distill.yaml"
    env_cfg, train_cfg = task_registry.get_cfgs(task)
    assert train_cfg.policy.init_std_from_teacher is False and train_cfg.algorithm.dagger_coef == 0.1
    items = read_set_file(str(recipe))
    assert apply_overrides(items, env_cfg, train_cfg) == []  # nothing of the env config
    assert len(apply_overrides(items, train_cfg, env_cfg, cfg_name="train", other_name="env")) == 2
    assert train_cfg.policy.init_std_from_teacher is True and train_cfg.algorithm.dagger_coef == 1.0


def test_state_estimator_recipe_turns_on_the_root_velocity_estimate():
    """legged_gym/recipes/student_state_estimator.yaml (docs/learning.md#state-estimator) sets three real
    settings of the student's learner config: the estimator of the root velocity (TWIST: none), trained
    without the 50 steps after each push (default: none left out), read by the actor as the average of its
    trained weights with decay 0.95 (default: 0, the trained weights); each against the runs its header
    quotes."""
    recipe = REPO / "legged_gym" / "recipes" / "student_state_estimator.yaml"
    env_cfg, train_cfg = task_registry.get_cfgs("g1_stu_rl")
    assert list(train_cfg.policy.estimator_fields) == []
    assert train_cfg.algorithm.estimator_skip_after_push == 0
    assert train_cfg.algorithm.estimator_average_decay == 0.0
    items = read_set_file(str(recipe))
    assert apply_overrides(items, env_cfg, train_cfg) == []
    assert len(apply_overrides(items, train_cfg, env_cfg, cfg_name="train", other_name="env")) == 3
    assert list(train_cfg.policy.estimator_fields) == ["base_lin_vel"]
    assert train_cfg.algorithm.estimator_skip_after_push == 50
    assert train_cfg.algorithm.estimator_average_decay == 0.95
    # the A/B the header quotes: its student B was trained with the recipe file of that time (the skip)
    # plus the average on its command line, its student A without the average
    (average,) = [item for item in items if item.startswith("algorithm.estimator_average")]
    ab = "student_estimator_average_15min_h100_2026-12-06.json"
    assert _values([average]) == _values(
        [item for item in _set_items(_train_args(ab, "student_B")) if item.startswith("algorithm.")]
    )
    assert not [item for item in _set_items(_train_args(ab, "student_A")) if item.startswith("algorithm.")]
    assert "run student_B" in recipe.read_text()
    # the skip's A/B that the header quotes: its student A was trained with this file as it is, its student
    # B with the skip turned off on the command line
    skip_ab = "student_estimator_push_skip_average_10min_h100_2026-12-06.json"
    assert not [item for item in _set_items(_train_args(skip_ab, "student_A")) if item.startswith("algorithm.")]
    assert _values(
        [item for item in _set_items(_train_args(skip_ab, "student_B")) if item.startswith("algorithm.")]
    ) == {("algorithm", "estimator_skip_after_push"): 0}
    header = " ".join(recipe.read_text().replace("# ", "").split())  # the comments as one line of words
    assert "run student_A of bench/results/" + skip_ab in header
    # the mirror's run that the header quotes: this file plus the mirror on its command line
    mirror_ab = "student_feedback_gains_and_estimator_mirror_10min_h100_2026-12-06.json"
    assert _values(
        [item for item in _set_items(_train_args(mirror_ab, "student_mirror")) if item.startswith("algorithm.")]
    ) == {("algorithm", "estimator_mirror"): True}
    assert not train_cfg.algorithm.estimator_mirror
    assert "run student_mirror of bench/results/" + mirror_ab in header
    # the run the recipe's header quotes was trained with the estimator (given on its command line), before
    # the skip after pushes (2026-12-06)
    measured = _set_items(_train_args("tracking_quality_2026-12-03.json", "student_state_estimator"))
    policy_items = [item for item in items if item.startswith("policy.")]
    assert _values([item for item in measured if item.startswith("policy.")]) == _values(policy_items)
    assert "run student_state_estimator" in recipe.read_text()


def test_fixed_lr_recipe_takes_the_student_off_the_adaptive_floor():
    """legged_gym/recipes/student_fixed_lr.yaml (docs/learning.md#student-learning-rate) replaces the
    students' adaptive schedule (which sits at its 1e-5 floor) with a fixed 1e-4, as the run it quotes."""
    recipe = REPO / "legged_gym" / "recipes" / "student_fixed_lr.yaml"
    env_cfg, train_cfg = task_registry.get_cfgs("g1_stu_rl")
    assert train_cfg.algorithm.schedule == "adaptive"
    items = read_set_file(str(recipe))
    assert apply_overrides(items, env_cfg, train_cfg) == []
    assert len(apply_overrides(items, train_cfg, env_cfg, cfg_name="train", other_name="env")) == 2
    assert train_cfg.algorithm.schedule == "fixed" and train_cfg.algorithm.learning_rate == 1e-4
    # the run the header quotes was trained with these values (given as --set items: "1e-4", a string to YAML)
    measured = _set_items(_train_args("tracking_quality_2026-12-03.json", "student_fixed_lr"))
    _, run_cfg = task_registry.get_cfgs("g1_stu_rl")
    algorithm = [item for item in measured if item.startswith("algorithm.")]
    assert len(apply_overrides(algorithm, run_cfg, env_cfg, cfg_name="train", other_name="env")) == 2
    assert (run_cfg.algorithm.schedule, run_cfg.algorithm.learning_rate) == ("fixed", 1e-4)
    assert _values([item for item in measured if item.startswith("policy.")]) == {
        ("policy", "estimator_fields"): ["base_lin_vel"]
    }
    assert "run student_fixed_lr" in recipe.read_text()


def test_drift_feedback_recipe_gives_the_student_block_the_feedback():
    """legged_gym/recipes/student_drift_feedback.yaml (docs/rewards_and_terminations.md#drift-feedback) sets one
    real setting of the student's env config, the drift feedback in its block (TWIST: none), as the run it
    quotes was trained with (given on its command line after the other student recipe files)."""
    recipe = REPO / "legged_gym" / "recipes" / "student_drift_feedback.yaml"
    env_cfg, train_cfg = task_registry.get_cfgs("g1_stu_rl")
    assert env_cfg.motion.student_ref_correction is False
    items = read_set_file(str(recipe))
    assert apply_overrides(items, train_cfg, env_cfg, cfg_name="train", other_name="env") == []
    assert len(apply_overrides(items, env_cfg, train_cfg)) == 1
    assert env_cfg.motion.student_ref_correction is True
    measured = _train_args("tracking_quality_student_feedback_h200_2026-12-04.json", "student_feedback_9min")
    set_files = [measured[i + 1] for i, w in enumerate(measured) if w == "--set_file"]
    earlier = ("teacher_drift_feedback", "student_fast_distill", "student_state_estimator", "student_fixed_lr")
    assert set_files == [f"legged_gym/recipes/{name}.yaml" for name in earlier]
    assert _values([item for item in _set_items(measured) if item.startswith("motion.student_ref")]) == _values(items)
    assert "run student_feedback_9min" in recipe.read_text()
    # the gains' run that the header quotes: the same recipe files with the gains doubled on its command line;
    # this file leaves them to the teacher recipe's 1.0
    gains_ab = "student_feedback_gains_and_estimator_mirror_10min_h100_2026-12-06.json"
    gains_run = _train_args(gains_ab, "student_gains2")
    gains_files = [gains_run[i + 1] for i, w in enumerate(gains_run) if w == "--set_file"]
    assert gains_files == set_files + ["legged_gym/recipes/student_drift_feedback.yaml"]
    assert _values([item for item in _set_items(gains_run) if item.startswith("motion.ref_correction")]) == {
        ("motion", "ref_correction", "pos_gain"): 2.0,
        ("motion", "ref_correction", "yaw_gain"): 2.0,
    }
    assert not [item for item in items if "gain" in item]
    assert "run student_gains2 of" in recipe.read_text()
