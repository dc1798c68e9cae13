#!/usr/bin/env bash
# tests/fleet_merge.rs renders the fleet HTML page in headless Chromium
# (a screenshot and the DOM after the page's filter script has run).
set -euo pipefail
apt-get install -y -q chromium >/dev/null
