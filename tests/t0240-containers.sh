#!/usr/bin/env bash
# The workspace bind-mounted into containers: processes of another uid
# (bubblewrap run as uid 1000) and an OCI container (crun, user 1000, the
# mount point bound at /workspace) build and write, and what they create
# belongs to them on the host (setgid directories honoured). Mounted as
# root with allow_other and default_permissions (docs/containers.md).
. "$(dirname "$0")/lib.sh"
require_fuse
command -v bwrap >/dev/null || fail "bubblewrap is not installed"
command -v crun >/dev/null || fail "crun is not installed"

repo=$(gen repo.git --files 300 --seed 95 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/upper" -o allow_other
W=$T/ws
# Writable places for uid 1000: its own copy of the C project, a setgid
# directory of group 1234.
mkdir "$W/shared"; chmod 777 "$W/shared"
cp -r "$W/cproject" "$W/shared/cp"; chown -R 1000:1000 "$W/shared/cp"
mkdir "$W/sg"; chgrp 1234 "$W/sg"; chmod 2777 "$W/sg"
chmod 755 "$T"   # let uid 1000 reach the mount point

# bubblewrap, unprivileged, as uid 1000.
setpriv --reuid=1000 --regid=1000 --clear-groups \
  bwrap --unshare-user --uid 1000 --gid 1000 --ro-bind /usr /usr --ro-bind /etc /etc --symlink usr/bin /bin \
        --symlink usr/lib /lib --symlink usr/lib64 /lib64 --dev /dev --proc /proc --tmpfs /tmp \
        --bind "$W" /workspace --chdir /workspace \
        sh -c 'make -s -C shared/cp >/dev/null && ./shared/cp/hello > shared/bwrap.out && touch sg/by-bwrap' ||
  fail "build and write inside bubblewrap as uid 1000"
[ "$(stat -c %u:%g "$W/shared/bwrap.out")" = 1000:1000 ] || fail "owner of a file made in bubblewrap: $(stat -c %u:%g "$W/shared/bwrap.out")"
[ "$(stat -c %u:%g "$T/upper/shared/bwrap.out")" = 1000:1000 ] || fail "owner in the upper layer"
[ "$(stat -c %u:%g "$W/shared/cp/main.o")" = 1000:1000 ] || fail "owner of a build output"
[ "$(stat -c %g "$W/sg/by-bwrap")" = 1234 ] || fail "setgid directory: group $(stat -c %g "$W/sg/by-bwrap")"
grep -q . "$W/shared/bwrap.out" || fail "the program built in bubblewrap printed nothing"
# uid 1000 cannot write where it has no permission (default_permissions).
if setpriv --reuid=1000 --regid=1000 --clear-groups touch "$W/cproject/nope" 2>/dev/null; then
  fail "uid 1000 wrote into a root-owned directory"
fi

# crun: an OCI container, user 1000, /workspace bound to the mount point.
# crun 1.8 refuses this machine's hybrid cgroup layout: run it in a private
# mount namespace with the cgroup2 mount unmounted, and no cgroup manager.
B=$T/bundle
mkdir -p "$B/rootfs"
(cd "$B" && crun spec)
jq --arg ws "$W" '.root.path = "rootfs" | .root.readonly = true | .process.terminal = false
  | .process.user = {"uid": 1000, "gid": 1000} | .process.cwd = "/workspace"
  | .process.args = ["sh", "-c", "make -s -C shared/cp clean && make -s -C shared/cp >/dev/null && touch shared/by-crun sg/by-crun"]
  | .mounts += [{"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]},
                {"destination": "/etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]},
                {"destination": "/bin", "type": "bind", "source": "/bin", "options": ["rbind", "ro"]},
                {"destination": "/lib", "type": "bind", "source": "/lib", "options": ["rbind", "ro"]},
                {"destination": "/lib64", "type": "bind", "source": "/lib64", "options": ["rbind", "ro"]},
                {"destination": "/workspace", "type": "bind", "source": $ws, "options": ["rbind", "rw"]}]' \
  "$B/config.json" > "$B/config.new" && mv "$B/config.new" "$B/config.json"
name="thaw-test-$$"
(cd "$B" && unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; crun --cgroup-manager=disabled run $name") ||
  fail "crun container"
crun delete -f "$name" 2>/dev/null || true
[ "$(stat -c %u:%g "$W/shared/by-crun")" = 1000:1000 ] || fail "owner of a file made by the container"
[ "$(stat -c %g "$W/sg/by-crun")" = 1234 ] || fail "setgid directory in the container"
[ "$(stat -c %u "$W/shared/cp/hello")" = 1000 ] || fail "the container's build output"
unmount_ws ws
