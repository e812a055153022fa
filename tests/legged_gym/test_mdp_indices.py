"""Index constants of the MDP terms, derived by name from the facts table (`pose.g1_model.load_g1()`),
equal TWIST's literal values, typed in here as the independent expectation."""

from legged_gym.envs.mdp import layout, rewards
from pose.g1_model import load_g1

TWIST_ANKLE_DOF_IDS = (4, 5, 10, 11)
TWIST_UPPER_KEY_BODY_IDS = (0, 1, 6, 7, 8)  # hands, elbows, head
TWIST_LOWER_KEY_BODY_IDS = (2, 3, 4, 5)  # ankles, knees
SYMMETRY_LEFT_IDS = (0, 1, 2, 3, 4, 5, 15, 16, 17, 18)
SYMMETRY_RIGHT_IDS = (6, 7, 8, 9, 10, 11, 19, 20, 21, 22)
SYMMETRY_SIGNS = (1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0, -1.0, 1.0)


def test_constants_derived_from_the_table_equal_the_literal_values():
    assert layout.ANKLE_DOF_IDS == TWIST_ANKLE_DOF_IDS
    assert rewards.UPPER_KEY_BODY_IDS == TWIST_UPPER_KEY_BODY_IDS
    assert rewards.LOWER_KEY_BODY_IDS == TWIST_LOWER_KEY_BODY_IDS
    assert rewards.SYMMETRY_LEFT_IDS == SYMMETRY_LEFT_IDS
    assert rewards.SYMMETRY_RIGHT_IDS == SYMMETRY_RIGHT_IDS
    assert rewards.SYMMETRY_SIGNS == SYMMETRY_SIGNS


def test_mirror_pairs_are_left_right_twins_and_negate_roll_and_yaw():
    g1 = load_g1()
    left, right, signs = g1.mirror_dofs()
    for i, j, sign in zip(left, right, signs):
        name = g1.dof_names[i]
        assert g1.dof_names[j] == name.replace("left_", "right_")
        assert sign == (-1.0 if ("_roll_" in name or "_yaw_" in name) else 1.0)
    assert len(left) + len(right) == len([n for n in g1.dof_names if n.startswith(("left_", "right_"))])
