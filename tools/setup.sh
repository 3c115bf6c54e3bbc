#!/usr/bin/env bash
# Prepare this machine for building and testing doppel. Idempotent; silent when there is
# nothing to do; a second run takes well under a second.
#
#   tools/setup.sh           apt build/test dependencies + project venv (.venv) + the PyTorch
#                            oracle of the differential tests (Debian python3-torch on OpenBLAS
#                            for /usr/bin/python3, tests/python/differential) + the Hugging Face
#                            oracle of the doppel.models tests (build/hf-venv: transformers on
#                            that torch, pins in tools/requirements-hf.txt)
#   tools/setup.sh --bench   also the benchmark peer (libtorch for C++), and fails unless
#                            PyTorch's 2048^2 sgemm reaches DOPPEL_PEER_MIN_GFLOPS (default 150)
#                            GFLOP/s on 2 threads
#   tools/setup.sh --screenshots  also headless Chromium (tools/tensorboard_screenshot.sh)
#
# Catch2: v3 from <codename>-backports when the apt sources point at a Debian mirror that
# has it (the backports source is added for that); otherwise Debian's catch2 2.x stays.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=0
SCREENSHOTS=0
for arg in "$@"; do
  case $arg in
    --bench) BENCH=1 ;;
    --screenshots) SCREENSHOTS=1 ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

log() { echo "setup: $*" >&2; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

APT_PACKAGES=(build-essential cmake ninja-build ccache libfmt-dev python3-venv
              dataset-fashion-mnist libopenmpi-dev clang-format zlib1g-dev
              openmpi-bin # distributed/: mpirun (the multi-process tests and the all-reduce bench)
              clang-16 libclang-rt-16-dev # tools/fuzz.sh: libFuzzer; clang 14 lacks std::source_location
              libboost-dev # serve/: doppel-serve's HTTP server (Boost.Beast/Asio, header only)
              graphviz libgraphviz-dev # graph pictures: to_svg(), doppel-run --graph OUT.svg (libgvc)
              libprotobuf-dev protobuf-compiler libpng-dev) # tensorboard/: event files, PNG images
ORACLE_APT_PACKAGES=(python3-torch libopenblas0-openmp) # tests/python/differential; bench/peer too
BENCH_APT_PACKAGES=(libtorch-dev)
SCREENSHOT_APT_PACKAGES=(chromium fonts-dejavu-core) # tools/tensorboard_screenshot.sh

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || die "not root and no sudo: cannot install apt packages"
  SUDO=(sudo)
fi

installed_version() { # prints the installed version of package $1, or nothing
  local st
  st=$(dpkg-query -W -f='${Status}|${Version}' "$1" 2> /dev/null) || return 0
  [ "${st%%|*}" = "install ok installed" ] && echo "${st#*|}"
  return 0
}

missing_packages() { # prints those of "$@" that are not installed
  local p
  for p in "$@"; do [ -n "$(installed_version "$p")" ] || echo "$p"; done
}

APT_UPDATED=0
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return 0
  log "apt-get update"
  "${SUDO[@]}" apt-get update -qq -o DPkg::Lock::Timeout=300 > /dev/null
  APT_UPDATED=1
}

apt_install() { # apt_install [apt-get options...] packages...
  log "apt-get install $*"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq \
    --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" > /dev/null
}

ensure_apt() { # install whichever of "$@" are missing
  local missing
  mapfile -t missing < <(missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  apt_update
  apt_install "${missing[@]}"
}

# ---------------------------------------------------------------------------------------
# Catch2 (v3 from backports if obtainable)
# ---------------------------------------------------------------------------------------
CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
BACKPORTS="$CODENAME-backports"
CATCH2_V2_STAMP="$REPO/.cache/setup/catch2-v3-unavailable"

all_apt_sources() { # "URI SUITE" for every deb source, one-line and deb822 formats
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'function flush() { if (types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/)
                              for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print uris[u], suites[s]
                            types = ""; enabled = ""; nu = ns = 0 }
         /^[ \t]*$/ { flush(); next }
         /^#/ { next }
         tolower($1) == "types:" { types = $0; sub(/^[^:]*:[ \t]*/, "", types) }
         tolower($1) == "enabled:" { enabled = $2 }
         tolower($1) == "uris:" { for (i = 2; i <= NF; i++) uris[++nu] = $i }
         tolower($1) == "suites:" { for (i = 2; i <= NF; i++) suites[++ns] = $i }
         END { flush() }' "$f"
  done
}

ensure_backports_source() { # 0 if a backports source exists or was added, 1 if impossible
  local mirror keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -n "$CODENAME" ] || return 1
  all_apt_sources | awk -v s="$BACKPORTS" '$2 == s { found = 1 } END { exit !found }' && return 0
  # The Debian mirror already used for the release itself (deb.debian.org or a mirror of it).
  mirror=$(all_apt_sources | awk -v s="$CODENAME" '$2 == s && $1 ~ /^https?:\/\/.*debian/ { print $1; exit }')
  [ -n "$mirror" ] || return 1
  log "adding $BACKPORTS from $mirror (for Catch2 v3)"
  {
    echo "# Added by doppel tools/setup.sh: Catch2 v3 comes from $BACKPORTS."
    echo "Types: deb"
    echo "URIs: ${mirror%/}"
    echo "Suites: $BACKPORTS"
    echo "Components: main"
    [ -f "$keyring" ] && echo "Signed-By: $keyring"
  } | "${SUDO[@]}" tee "/etc/apt/sources.list.d/doppel-$BACKPORTS.sources" > /dev/null
  APT_UPDATED=0 # the new source needs an update before it is visible
  return 0
}

ensure_catch2() {
  local have bp
  have=$(installed_version catch2)
  if [ -n "$have" ] && dpkg --compare-versions "$have" ge 3~; then return 0; fi
  if [ -n "$have" ] && [ -f "$CATCH2_V2_STAMP" ]; then return 0; fi # checked before: no v3
  if ensure_backports_source; then
    apt_update
    bp=$(apt-cache madison catch2 | awk -F'|' -v s="$BACKPORTS/" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }')
    if [ -n "$bp" ] && dpkg --compare-versions "$bp" ge 3~; then
      apt_install -t "$BACKPORTS" catch2 libcatch2-dev
      rm -f "$CATCH2_V2_STAMP"
      return 0
    fi
  fi
  log "Catch2 v3 is not obtainable here; using Debian's catch2 2.x"
  [ -n "$have" ] || { apt_update; apt_install catch2; }
  mkdir -p "$(dirname "$CATCH2_V2_STAMP")" && touch "$CATCH2_V2_STAMP"
}

# ---------------------------------------------------------------------------------------
# Project venv (.venv): oneDNN wheels (lib, headers, CMake config), Python test/tooling deps
# ---------------------------------------------------------------------------------------
ensure_venv() {
  local venv="$REPO/.venv" req="$REPO/tools/requirements.txt" stamp want
  stamp="$venv/.doppel-requirements.sha256"
  if ! "$venv/bin/python" -c '' 2> /dev/null; then
    command -v python3 > /dev/null || die "python3 not found"
    log "creating $venv with $(python3 --version 2>&1)"
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2> /dev/null)" = "$want" ] && [ -f "$venv/lib/cmake/dnnl/dnnl-config.cmake" ]; then
    return 0
  fi
  log "pip install -r tools/requirements.txt"
  rm -f "$stamp"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$req"
  [ -f "$venv/lib/cmake/dnnl/dnnl-config.cmake" ] || die "oneDNN wheel did not install lib/cmake/dnnl"
  echo "$want" > "$stamp"
}

# ---------------------------------------------------------------------------------------
# Debian torch 1.13: python3-torch for /usr/bin/python3 (the differential tests' oracle and the
# benchmark peer), libtorch-dev for C++ (benchmark peer only)
# ---------------------------------------------------------------------------------------
ensure_openblas_alternatives() {
  # Debian's torch calls whatever libblas.so.3 / liblapack.so.3 the alternatives system
  # points at; the netlib reference BLAS is ~20x slower than OpenBLAS for sgemm.
  local arch name want
  arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2> /dev/null || gcc -dumpmachine)
  for name in libblas.so.3 liblapack.so.3; do
    want="/usr/lib/$arch/openblas-openmp/$name"
    [ -e "$want" ] || die "$want missing (libopenblas0-openmp not installed?)"
    if [ "$(readlink -f "/usr/lib/$arch/$name")" != "$(readlink -f "$want")" ]; then
      log "update-alternatives: $name -> $want"
      "${SUDO[@]}" update-alternatives --quiet --set "$name-$arch" "$want"
    fi
  done
}

ensure_torch_oracle() {
  ensure_apt "${ORACLE_APT_PACKAGES[@]}"
  ensure_openblas_alternatives
}

# The Hugging Face oracle (tests/python/hf/make_fixtures.py): transformers next to Debian's torch.
ensure_hf_oracle() {
  local venv="$REPO/build/hf-venv" req="$REPO/tools/requirements-hf.txt" stamp want
  stamp="$venv/.doppel-requirements.sha256"
  if ! "$venv/bin/python" -c '' 2> /dev/null ||
    ! grep -q '^include-system-site-packages = true' "$venv/pyvenv.cfg"; then
    log "creating $venv (system site-packages: Debian's torch)"
    rm -rf "$venv"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
  fi
  want=$(sha256sum "$req" | cut -d' ' -f1)
  [ "$(cat "$stamp" 2> /dev/null)" = "$want" ] && return 0
  log "pip install -r tools/requirements-hf.txt (into $venv)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input --no-deps -r "$req"
  "$venv/bin/python" -c 'import transformers, torch' || die "the Hugging Face oracle venv does not import"
  echo "$want" > "$stamp"
}

ensure_bench_peer() {
  ensure_apt "${BENCH_APT_PACKAGES[@]}"
  /usr/bin/python3 "$REPO/bench/peer/check_torch_blas.py" --quiet \
    --threads 2 --min-gflops "${DOPPEL_PEER_MIN_GFLOPS:-150}" ||
    die "benchmark peer (Debian torch) is too slow; see the message above and bench/peer/README.md"
}

ensure_catch2 # first: it may add the backports source, which needs an apt-get update anyway
ensure_apt "${APT_PACKAGES[@]}"
ensure_venv
ensure_torch_oracle
ensure_hf_oracle
[ "$BENCH" = 1 ] && ensure_bench_peer
[ "$SCREENSHOTS" = 1 ] && ensure_apt "${SCREENSHOT_APT_PACKAGES[@]}"
exit 0
