#!/usr/bin/env bash
# Installs every build and run dependency of deferbench from Debian's packages.
# Idempotent: packages already installed are skipped; the rest are named, then installed.
set -euo pipefail

PACKAGES=(
  cmake g++ make ccache pkg-config
  libtorch-dev libopenblas0-pthread
  libyaml-cpp-dev libfmt-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  nlohmann-json3-dev libcsv-dev libutf8proc-dev libxxhash-dev
  libxgboost-dev
  gnuplot-nox          # the plots of `deferbench report` (PNG and SVG)
  slurm-wlm munge      # launcher=slurm and its tests (a private single-node cluster)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
