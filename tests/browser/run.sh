#!/usr/bin/env bash
# Runs the browser tests against the gateway at $GATEWAY_URL with Debian's
# Chromium (/usr/bin/chromium, or $CHROMIUM_PATH): every *.test.mjs here.
# Optional: CHATCTL="<path>/chatctl --chat=host:port" (the same stack's admin
# CLI) enables the server-invitation test; SCREENSHOT_DIR saves screenshots.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
exec node --test *.test.mjs
