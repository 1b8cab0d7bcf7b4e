#!/usr/bin/env bash
# Installs what lowbit needs to build, test and train, from Debian 12 packages.
# Idempotent: installs only what is missing and prints nothing when all is there.
# Usage: scripts/setup.sh [--with-torch]   (--with-torch adds python3-torch for the golden-data generator)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libopenblas-dev libopenblas0-openmp libopenblas-openmp-dev
  libyaml-cpp-dev catch2 libstb-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libbenchmark-dev
  dataset-fashion-mnist time
)
if [[ "${1:-}" == "--with-torch" ]]; then
  packages+=(python3-torch python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's default libopenblas.so.0 alternative is the pthread build, whose threads busy-wait
# and starve our OpenMP kernels. We link the OpenMP build explicitly (see CMakeLists.txt),
# so nothing needs switching here; check that the library is where CMake will look.
if ! ls /usr/lib/*-linux-gnu/openblas-openmp/libopenblas.so >/dev/null 2>&1; then
  echo "setup.sh: libopenblas-openmp-dev is installed but libopenblas.so is not under /usr/lib/<arch>/openblas-openmp/" >&2
  exit 1
fi
