#!/usr/bin/env bash
# Play a trained teacher and record a video of env 0, TWIST's play_teacher.sh (no CUDA_VISIBLE_DEVICES here:
# set it yourself, or pass --device).
# Usage: bash play_teacher.sh <exptid> [extra play.py args...]
# Video: legged_gym/logs/videos/g1_priv_mimic-<exptid>-<iteration>.mp4; a MuJoCo viewer opens when a display exists.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: bash play_teacher.sh <exptid> [extra play.py args...]" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exptid=$1
shift
exec "${PYTHON:-python}" "$ROOT/legged_gym/scripts/play.py" --task g1_priv_mimic --proj_name g1_priv_mimic \
    --exptid "$exptid" --num_envs 1 --record_video "$@"
