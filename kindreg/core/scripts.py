"""Shell scripts run by `command.local.Command` resources, as pure text.

Every script reads its inputs from KINDREG_* environment variables (set by the resource),
never from string interpolation, so content with quotes or newlines is safe and each
script is a constant that Pulumi diffs only when its meaning changes.
"""
from __future__ import annotations

import shlex

from . import vocabulary as _words

# The short-lived containers that write the certs.d volume carry kindreg's label.
CERTS_HELPER_LABEL = f"{_words.Label.MANAGED.value}={_words.MANAGED_VALUE}"

# ---------------------------------------------------------------- containerd certs.d tree

# The scripts below work on the tree at $KINDREG_CERTS_DIR: a host directory with a local
# engine. Where the tree is a Docker volume (a remote engine has no path of this machine to
# mount), the VOLUME_* scripts run the same scripts inside a short-lived container of the
# stack's registry image that mounts the volume, started through the stack's engine.

CERTS_DIR_CREATE = 'mkdir -p "$KINDREG_CERTS_DIR"\n'
# Only an empty tree is removed: the files are resources of their own, deleted before it.
CERTS_DIR_DELETE = 'rmdir "$KINDREG_CERTS_DIR" 2>/dev/null || true\n'

# Written next to the target and renamed over it: a node reading through its bind mount sees
# the old file or the new one, never half of one; the directory itself is never replaced.
HOSTS_FILE_WRITE = """set -eu
dir="$KINDREG_CERTS_DIR/$KINDREG_HOST"
mkdir -p "$dir"
tmp="$dir/.hosts.toml.$$"
printf '%s' "$KINDREG_CONTENT" > "$tmp"
mv -f "$tmp" "$dir/hosts.toml"
"""

# Removes the file only while it holds what this resource wrote: a replacement resource may
# already have written the same path (Pulumi creates before it deletes), and that file stays.
# (`; echo .` keeps trailing newlines in the comparison.)
HOSTS_FILE_DELETE = """set -eu
file="$KINDREG_CERTS_DIR/$KINDREG_HOST/hosts.toml"
if [ -f "$file" ] && [ "$(cat "$file"; echo .)" = "$(printf '%s' "$KINDREG_CONTENT"; echo .)" ]; then
  rm -f "$file"
fi
rmdir "$KINDREG_CERTS_DIR/$KINDREG_HOST" 2>/dev/null || true
"""

# `cat`, not `cp`: inside the volume's container the source is the container's stdin.
CA_COPY = """set -eu
mkdir -p "$KINDREG_CERTS_DIR/.ca"
cat "$KINDREG_CA_SOURCE" > "$KINDREG_CERTS_DIR/.ca/.rootCA.pem.$$"
mv -f "$KINDREG_CERTS_DIR/.ca/.rootCA.pem.$$" "$KINDREG_CERTS_DIR/.ca/rootCA.pem"
"""

# As for hosts files: only the copy of the CA this resource made (by its SHA-256).
CA_DELETE = """file="$KINDREG_CERTS_DIR/.ca/rootCA.pem"
if [ -f "$file" ] && [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$KINDREG_CA_SHA256" ]; then
  rm -f "$file"
fi
rmdir "$KINDREG_CERTS_DIR/.ca" 2>/dev/null || true
"""

# Where the tree is mounted in the container that changes it.
VOLUME_MOUNT = "/certs.d"


def _in_tree_volume(script: str, ca_from_stdin: bool = False) -> str:
    """`script`, run in a container that mounts the tree's volume ($KINDREG_CERTS_VOLUME), from
    the registry image ($KINDREG_IMAGE), through the engine in DOCKER_HOST. Values cross only
    as environment variables (`-e NAME` copies NAME from this environment); `script` is a
    constant, quoted once here. With `ca_from_stdin` the container reads the CA on its stdin."""
    ca_env, ca_stdin = (" -e KINDREG_CA_SOURCE=/dev/stdin", ' < "$KINDREG_CA_SOURCE"') if ca_from_stdin else ("", "")
    return (f"exec docker run --rm -i --network none --label {CERTS_HELPER_LABEL} "
            f"-e KINDREG_HOST -e KINDREG_CONTENT -e KINDREG_CA_SHA256 -e KINDREG_CERTS_DIR={VOLUME_MOUNT}{ca_env} "
            f'-v "$KINDREG_CERTS_VOLUME:{VOLUME_MOUNT}" --entrypoint sh "$KINDREG_IMAGE" '
            f"-c {shlex.quote(script)}{ca_stdin}\n")


VOLUME_HOSTS_FILE_WRITE = _in_tree_volume(HOSTS_FILE_WRITE)
VOLUME_HOSTS_FILE_DELETE = _in_tree_volume(HOSTS_FILE_DELETE)
VOLUME_CA_COPY = _in_tree_volume(CA_COPY, ca_from_stdin=True)
VOLUME_CA_DELETE = _in_tree_volume(CA_DELETE)


# ---------------------------------------------------------------- TLS certificate (mkcert)

# stdout is the certificate's SHA-256 only: it changes exactly when the certificate does and
# carries no key material. mkcert's own chatter goes to a log that is shown only on failure.
# The SAN list is split on spaces on purpose, with globbing off (`set -f`): a name is never
# expanded against the files of the working directory.
MKCERT_CREATE = """set -euf
if [ -z "${KINDREG_SANS:-}" ]; then
  echo "kindreg: no subject alternative names for the certificate" >&2
  exit 1
fi
mkdir -p "$KINDREG_TLS_DIR"
chmod 700 "$KINDREG_TLS_DIR"
log="$KINDREG_TLS_DIR/mkcert.log"
# shellcheck disable=SC2086 # the SAN list is split on purpose
if ! mkcert -cert-file "$KINDREG_TLS_DIR/cert.pem" -key-file "$KINDREG_TLS_DIR/key.pem" $KINDREG_SANS >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
rm -f "$log"
sha256sum "$KINDREG_TLS_DIR/cert.pem" | cut -d' ' -f1
"""

MKCERT_DELETE = """rm -f "$KINDREG_TLS_DIR/cert.pem" "$KINDREG_TLS_DIR/key.pem" "$KINDREG_TLS_DIR/mkcert.log"
rmdir "$KINDREG_TLS_DIR" 2>/dev/null || true
"""

# ---------------------------------------------------------------- kind cluster

KIND_CREATE = """set -eu
if kind get clusters 2>/dev/null | grep -qx "$KINDREG_CLUSTER"; then
  echo "kindreg: a kind cluster named $KINDREG_CLUSTER already exists and this stack did not create it;" >&2
  echo "delete it (kind delete cluster --name $KINDREG_CLUSTER) or rename the project, then run pulumi up again" >&2
  exit 1
fi
KIND_EXPERIMENTAL_DOCKER_NETWORK="$KINDREG_NETWORK" kind create cluster \\
  --name "$KINDREG_CLUSTER" --config /dev/stdin --wait "$KINDREG_WAIT" >&2
# stdout is the node list only: the network-connect step is replaced when it changes.
kind get nodes --name "$KINDREG_CLUSTER" | sort
"""

# An input change that is not a trigger (engine address, wait time) is an update: the cluster
# this stack created stays; it is created only if it is missing (another engine, deleted by hand).
KIND_UPDATE = """set -eu
if ! kind get clusters 2>/dev/null | grep -qx "$KINDREG_CLUSTER"; then
  KIND_EXPERIMENTAL_DOCKER_NETWORK="$KINDREG_NETWORK" kind create cluster \\
    --name "$KINDREG_CLUSTER" --config /dev/stdin --wait "$KINDREG_WAIT" >&2
fi
kind get nodes --name "$KINDREG_CLUSTER" | sort
"""

KIND_DELETE = 'kind delete cluster --name "$KINDREG_CLUSTER"\n'

# Logic that is Python's to do runs as the project's own code (kindreg.ops, tested against a
# fake engine): these scripts only start it with the program's interpreter ($KINDREG_PYTHON)
# and the project on PYTHONPATH, both set by the resource's environment.

# Every node joins the shared registries network; already-connected nodes are left alone.
NETWORK_CONNECT = 'exec "$KINDREG_PYTHON" -m kindreg.ops.connect connect\n'
NETWORK_DISCONNECT = 'exec "$KINDREG_PYTHON" -m kindreg.ops.connect disconnect\n'

# KEP-1755: tools such as Tilt read this ConfigMap to find the build registry.
REGISTRY_HOSTING_APPLY = """set -eu
node=$(kind get nodes --name "$KINDREG_CLUSTER" | grep -- '-control-plane$' | sort | head -n 1)
docker exec -i "$node" kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f -
"""

# ---------------------------------------------------------------- shared stack guard

# Runs first when the shared stack is destroyed (every shared resource is a dependency of the
# guard). Fails closed, deleting nothing, unless the network is gone or holds only kindreg's
# own mirrors.
SHARED_GUARD_DELETE = 'exec "$KINDREG_PYTHON" -m kindreg.ops.guard\n'

SHARED_GUARD_CREATE = 'echo "guarding network $KINDREG_NETWORK"\n'
