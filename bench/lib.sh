# Shared by the benchmark scripts (sourced): mounts and processes.

# mounts_under DIR: "type<TAB>mountpoint" of the mounts under DIR
mounts_under() {
  local mp typ
  while read -r _ mp typ _; do
    mp=$(printf '%b' "${mp//\\/\\0}")
    case "$mp" in "$1"/*) printf '%s\t%s\n' "$typ" "$mp" ;; esac
  done </proc/mounts
}

# unmount_all_under DIR: unmounts them, innermost first; prints each mount
# point on stdout
unmount_all_under() {
  local typ mp
  mounts_under "$1" | tac | while IFS=$'\t' read -r typ mp; do
    case "$typ" in
      fuse*) fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true ;;
      *) umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true ;;
    esac
    printf '%s\n' "$mp"
  done
}

# alive PID: the process exists and is not a zombie
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
