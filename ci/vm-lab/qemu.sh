# Booting the lab guest with qemu (sourced by run.sh).
# shellcheck shell=bash

# Which accelerator works here: KRC_LAB_ACCEL=kvm|tcg forces one. Otherwise
# KVM is tried with a short capped probe boot of the guest kernel: on some
# hosts /dev/kvm opens but a nested guest hangs right after "Probing EDD",
# so an openable /dev/kvm proves nothing. The answer is cached per host boot.
detect_accel() {
  local kernel=$1 cache=$2
  case "${KRC_LAB_ACCEL:-auto}" in
    kvm|tcg) echo "$KRC_LAB_ACCEL"; return ;;
    auto) ;;
    *) die "KRC_LAB_ACCEL must be kvm, tcg or auto, not '$KRC_LAB_ACCEL'" ;;
  esac
  if [ ! -c /dev/kvm ] || ! { : <>/dev/kvm; } 2>/dev/null; then
    log "/dev/kvm is missing or not usable: using TCG"
    echo tcg; return
  fi
  local boot_id key answer
  boot_id=$(cat /proc/sys/kernel/random/boot_id)
  key="$cache/accel-$(printf '%s %s' "$boot_id" "$(qemu-system-x86_64 --version | head -n1)" | sha256sum | cut -c1-16)"
  if [ -f "$key" ]; then
    answer=$(cat "$key")
    log "accelerator (probed earlier this host boot): $answer"
    echo "$answer"; return
  fi
  local probe_log
  probe_log=$(mktemp)
  log "probing KVM: booting the guest kernel for at most 20s"
  # No root disk: a working KVM gets to the kernel banner within a second or
  # two and then panics (panic=-1 + -no-reboot ends qemu at once).
  timeout --kill-after=5 20 qemu-system-x86_64 -accel kvm -m 256 -display none -monitor none \
    -serial "file:$probe_log" -no-reboot -kernel "$kernel" -append "console=ttyS0 panic=-1" \
    >/dev/null 2>&1 || true
  if grep -q 'Linux version' "$probe_log"; then answer=kvm; else answer=tcg; fi
  log "KVM probe: $( [ "$answer" = kvm ] && echo 'the kernel booted: using KVM' \
    || echo "no kernel banner in 20s (last console line: $(tail -n1 "$probe_log" | tr -d '\r')): using TCG")"
  rm -f "$probe_log"
  echo "$answer" >"$key"
  echo "$answer"
}

# What the guest is doing: the last line of the lab's own log, read from the
# live root disk (debugfs -c reads it without mounting; a torn read only
# costs one progress line), else the last console line.
progress_line() {
  local root=$1 serial=$2 line
  line=$(debugfs -c -R 'cat /var/lib/krc-lab/out/lab-steps.log' "$root" 2>/dev/null | tail -n1)
  [ -n "$line" ] || line=$(tail -n1 "$serial" 2>/dev/null)
  printf '%s' "$line" | tr -d '\r' | cut -c1-110
}

# boot_guest ACCEL IMAGE_DIR ROOT_DISK IN_DISK OUT_DISK SERIAL_LOG CAP:
# one boot of the guest until it powers itself off; fails when it does not
# within CAP seconds (the serial log then says how far it got).
boot_guest() {
  local accel=$1 image=$2 root=$3 in=$4 outd=$5 serial=$6 cap=$7
  local accel_args=(-accel kvm)
  # TCG with one host thread per vCPU: about 70 s to a login prompt here.
  # shellcheck disable=SC2054 # qemu's own comma syntax, one argument
  [ "$accel" = tcg ] && accel_args=(-accel tcg,thread=multi)
  qemu-system-x86_64 "${accel_args[@]}" -m 2048 -smp 2 \
    -display none -monitor none -serial "file:$serial" -no-reboot \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=1" \
    -drive "file=$root,format=raw,if=none,id=root,cache=unsafe" -device virtio-blk-pci,drive=root \
    -drive "file=$in,format=raw,if=none,id=in,readonly=on" -device virtio-blk-pci,drive=in,serial=krclabin \
    -drive "file=$outd,format=raw,if=none,id=out" -device virtio-blk-pci,drive=out,serial=krclabout \
    -netdev user,id=net0 -device virtio-net-pci,netdev=net0 \
    >"$serial.qemu" 2>&1 &
  local pid=$! started=$SECONDS last_note=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    if [ $((SECONDS - started)) -ge "$cap" ]; then
      log "the guest did not power off within ${cap}s: stopping qemu (pid $pid)"
      kill "$pid" 2>/dev/null || true
      sleep 5
      kill -9 "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 1
    fi
    if [ $((SECONDS - last_note)) -ge 30 ]; then
      last_note=$SECONDS
      log "  ...$((SECONDS - started))s: $(progress_line "$root" "$serial")"
    fi
    sleep 1
  done
  wait "$pid"
  local rc=$?
  [ "$rc" = 0 ] || { log "qemu exited with status $rc: $(tail -n3 "$serial.qemu")"; return 1; }
  log "the guest powered off after $((SECONDS - started))s"
}
