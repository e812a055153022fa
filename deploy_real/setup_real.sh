#!/usr/bin/env bash
# The system step of the real-robot stack (README, "Deploy on the real G1"); then `pip install -e ".[real]"`.
#
#   bash deploy_real/setup_real.sh            # Debian 12 / Ubuntu with cyclonedds-dev 0.10.x in apt
#   CYCLONEDDS_HOME=~/cyclonedds/install bash deploy_real/setup_real.sh   # a Cyclone DDS 0.10.x built from source
#
# Why: the G1 runs Eclipse Cyclone DDS 0.10.x, and the Python package `cyclonedds` 11.x exchanges no unitree_hg
# messages with it, so the Python side must be `cyclonedds==0.10.2`. That version has wheels only for
# Python 3.10 on x86_64; everywhere else (Python 3.11+, the robot's aarch64 computer) pip builds it from source
# against a Cyclone DDS 0.10.x C library found through CYCLONEDDS_HOME, a folder with include/, lib/ and bin/.
#
# What it does:
# 1. finds that C library: $CYCLONEDDS_HOME if it holds lib/libddsc.so; else Debian's `cyclonedds-dev`
#    (0.10.2 on Debian 12; installed with apt-get when missing, as root or through sudo);
# 2. for the apt library, makes the CYCLONEDDS_HOME folder of links (include, lib, bin -> the system paths)
#    at $CYCLONEDDS_LINKS (default ~/.cache/twist-g1/cyclonedds-home);
# 3. builds and installs cyclonedds==0.10.2 into $PYTHON (default python3) against it, and checks it imports.
set -euo pipefail

PYTHON=${PYTHON:-python3}
WANT=0.10.2
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { echo "[setup_real] $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo > /dev/null; then sudo "$@"; else
    say "need root for: $*"; exit 1; fi; }

if "$PYTHON" -c "import importlib.metadata as m, sys; sys.exit(m.version('cyclonedds') != '$WANT')" 2> /dev/null; then
    say "cyclonedds $WANT is already installed in $("$PYTHON" -c 'import sys; print(sys.executable)')"
    exit 0
fi

CYCLONEDDS_HOME=${CYCLONEDDS_HOME:-}
CYCLONEDDS_HOME=${CYCLONEDDS_HOME/#\~/$HOME}   # a quoted "~/cyclonedds/install" as Unitree's instructions write it
home_ok() { [ -n "${1:-}" ] && [ -e "$1/lib/libddsc.so" ] && [ -e "$1/include/dds/dds.h" ]; }

if home_ok "$CYCLONEDDS_HOME"; then
    say "Cyclone DDS from CYCLONEDDS_HOME=$CYCLONEDDS_HOME"
else
    if ! command -v apt-get > /dev/null; then
        say "no Cyclone DDS 0.10.x found and no apt-get: build Eclipse Cyclone DDS's releases/0.10.x branch" \
            "(eclipse-cyclonedds/cyclonedds) with cmake, install it, and run again with CYCLONEDDS_HOME=<install dir>"
        exit 1
    fi
    if ! dpkg -s cyclonedds-dev > /dev/null 2>&1; then
        if ! apt-cache policy cyclonedds-dev 2> /dev/null | grep -q "Candidate: 0\.10"; then
            as_root apt-get update -qq
        fi
        candidate=$(apt-cache policy cyclonedds-dev | sed -n 's/ *Candidate: //p')
        case "$candidate" in
            0.10.*) ;;
            *) say "this system's apt offers cyclonedds-dev '${candidate:-none}', not 0.10.x: build Eclipse Cyclone" \
                   "DDS's releases/0.10.x branch from source and run again with CYCLONEDDS_HOME=<install dir>"
               exit 1 ;;
        esac
        say "installing cyclonedds-dev $candidate (apt)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cyclonedds-dev > /dev/null
    fi
    version=$(dpkg-query -W -f '${Version}' cyclonedds-dev)
    case "$version" in 0.10.*) ;; *) say "cyclonedds-dev is $version, not 0.10.x"; exit 1 ;; esac
    lib=$(dpkg -L cyclonedds-dev | grep '/libddsc\.so$' | head -n 1)
    CYCLONEDDS_LINKS=${CYCLONEDDS_LINKS:-$HOME/.cache/twist-g1/cyclonedds-home}
    mkdir -p "$CYCLONEDDS_LINKS"
    ln -sfn /usr/include "$CYCLONEDDS_LINKS/include"
    ln -sfn "$(dirname "$lib")" "$CYCLONEDDS_LINKS/lib"
    ln -sfn /usr/bin "$CYCLONEDDS_LINKS/bin"
    export CYCLONEDDS_HOME=$CYCLONEDDS_LINKS
    say "cyclonedds-dev $version; CYCLONEDDS_HOME=$CYCLONEDDS_HOME (links to the system paths)"
fi

if ! command -v cc > /dev/null && command -v apt-get > /dev/null; then
    say "installing a C compiler (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev > /dev/null
fi
if ! "$PYTHON" -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"; then
    say "installing the Python headers (apt: python3-dev)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev > /dev/null
fi

say "building cyclonedds==$WANT for $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
CYCLONEDDS_HOME=$CYCLONEDDS_HOME "$PYTHON" -m pip install -q "cyclonedds==$WANT"
"$PYTHON" -c "import cyclonedds.domain, importlib.metadata as m; print('[setup_real] cyclonedds', m.version('cyclonedds'), 'imports')"
say "next: pip install -e \".[real]\" (the unitree SDK's message types)"
