#!/usr/bin/env bash
# Train a CMG teacher (task g1_cmg_<speed_mode>): PPO tracking references that the CMG generates from
# velocity commands of the speed mode's band (README, "CMG training").
# Usage: bash train_teacher_cmg.sh <speed_mode> <exptid> <device> [extra train.py args...]
#   speed_mode: slow (vx 0.5-1.5 m/s) | medium (1.5-2.5 m/s) | fast (2.5-3.5 m/s)
#   e.g. bash train_teacher_cmg.sh medium cmg_medium_v1 cuda:0
#        bash train_teacher_cmg.sh slow T1 cpu --num_envs 4 --max_iterations 2 --sim mjwarp --cmg_model my_cmg.pt
#        NPROC=2 bash train_teacher_cmg.sh fast T1 cuda --multi_gpu     (2 GPUs, data-parallel through torchrun)
# The CMG is the shipped assets/cmg/cmg.pt unless --cmg_model PATH (checkpoint or run folder) is given.
# Logs: legged_gym/logs/g1_cmg_<speed_mode>/<exptid>/ (or $LEGGED_GYM_LOG_DIR/...). Python: $PYTHON if set, else python.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/legged_gym/scripts/train_launcher.sh"
need_args 3 "<slow|medium|fast> <exptid> <device> [extra train.py args...]" "$@"
mode=$1 exptid=$2 device=$3
shift 3
check_speed_mode "$mode"
run_train "g1_cmg_$mode" "$device" --exptid "$exptid" "$@"
