#!/usr/bin/env bash
# Play a trained student and record a video of env 0, TWIST's play_student.sh.
# Usage: bash play_student.sh <student_exptid> <teacher_exptid> [extra play.py args, e.g. --use_jit...]
# Video: legged_gym/logs/videos/g1_stu_rl-<student_exptid>-<iteration>[-jit].mp4; a MuJoCo viewer opens when a display exists.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash play_student.sh <student_exptid> <teacher_exptid> [extra play.py args...]" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exptid=$1
teacher=$2
shift 2
exec "${PYTHON:-python}" "$ROOT/legged_gym/scripts/play.py" --task g1_stu_rl --proj_name g1_stu_rl \
    --exptid "$exptid" --num_envs 1 --teacher_exptid "$teacher" --record_video "$@"
