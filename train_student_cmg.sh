#!/usr/bin/env bash
# Train a CMG student (task g1_stu_rl_cmg_<speed_mode>) by DAgger-PPO from the CMG teacher of the same
# speed mode (README, "CMG training").
# Usage: bash train_student_cmg.sh <speed_mode> <student_exptid> <teacher_exptid> <device> [extra train.py args...]
#   speed_mode: slow | medium | fast (the teacher's)
#   e.g. bash train_student_cmg.sh medium cmg_medium_stu cmg_medium_v1 cuda:0
#        bash train_student_cmg.sh slow S1 T1 cpu --num_envs 4 --max_iterations 2 --sim mjwarp --cmg_model my_cmg.pt
# The teacher is read from legged_gym/logs/g1_cmg_<speed_mode>/<teacher_exptid>/model_<latest>.pt
# (--teacher_checkpoint N to pick one). Use the CMG the teacher was trained with (--cmg_model PATH; default
# the shipped assets/cmg/cmg.pt). Logs: legged_gym/logs/g1_stu_rl_cmg_<speed_mode>/<student_exptid>/ (or
# under $LEGGED_GYM_LOG_DIR). Export: bash to_jit.sh <student_exptid> g1_stu_rl_cmg_<speed_mode>.
# Python: $PYTHON if set, else python.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/legged_gym/scripts/train_launcher.sh"
need_args 4 "<slow|medium|fast> <student_exptid> <teacher_exptid> <device> [extra train.py args...]" "$@"
mode=$1 exptid=$2 teacher=$3 device=$4
shift 4
check_speed_mode "$mode"
run_train "g1_stu_rl_cmg_$mode" "$device" --exptid "$exptid" --teacher_exptid "$teacher" \
    --teacher_proj_name "g1_cmg_$mode" "$@"
