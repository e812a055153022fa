"""Command-line scripts: train.py, play.py, save_jit_stu_rlbc.py (run them as files or with -m)."""
