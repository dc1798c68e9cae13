#!/bin/sh
# krc's stand-in for k3s's install script, written for krc's tests (not a
# copy of upstream's). It does what the installer relies on the real one
# doing with INSTALL_K3S_SKIP_DOWNLOAD=true and INSTALL_K3S_SKIP_ENABLE=true:
# check the placed binary, add the kubectl/crictl/ctr links and the
# killall/uninstall scripts, write the rootful k3s.service (not enabled,
# not started) and reload systemd.
set -eu
BIN_DIR=${INSTALL_K3S_BIN_DIR:-/usr/local/bin}
SYSTEMD_DIR=${INSTALL_K3S_SYSTEMD_DIR:-/etc/systemd/system}
[ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" = true ] || { echo "stand-in install.sh: only INSTALL_K3S_SKIP_DOWNLOAD=true is supported" >&2; exit 1; }
[ -x "$BIN_DIR/k3s" ] || { echo "stand-in install.sh: $BIN_DIR/k3s is not executable" >&2; exit 1; }
echo "[INFO]  stand-in install.sh: using $BIN_DIR/k3s (${INSTALL_K3S_VERSION:-${INSTALL_K3S_COMMIT:-unpinned}})"
for cmd in kubectl crictl ctr; do
  [ -e "$BIN_DIR/$cmd" ] || ln -s k3s "$BIN_DIR/$cmd"
done
printf '#!/bin/sh\n# stand-in k3s-killall.sh\npkill -x k3s || true\n' >"$BIN_DIR/k3s-killall.sh"
printf '#!/bin/sh\n# stand-in k3s-uninstall.sh\nrm -f %s/k3s %s/kubectl %s/crictl %s/ctr\n' "$BIN_DIR" "$BIN_DIR" "$BIN_DIR" "$BIN_DIR" >"$BIN_DIR/k3s-uninstall.sh"
chmod 0755 "$BIN_DIR/k3s-killall.sh" "$BIN_DIR/k3s-uninstall.sh"
: >"$SYSTEMD_DIR/k3s.service.env"
chmod 0600 "$SYSTEMD_DIR/k3s.service.env"
cat >"$SYSTEMD_DIR/k3s.service" <<UNIT
[Unit]
Description=Lightweight Kubernetes (rootful; krc stand-in)
After=network-online.target

[Service]
Type=simple
EnvironmentFile=-$SYSTEMD_DIR/k3s.service.env
ExecStart=$BIN_DIR/k3s server
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
if [ "${INSTALL_K3S_SKIP_ENABLE:-}" != true ]; then
  systemctl enable k3s.service
fi
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "[INFO]  stand-in install.sh: done"
