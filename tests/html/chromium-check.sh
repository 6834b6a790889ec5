#!/usr/bin/env bash
# The audit's page and the sweep's page open in headless Chromium without console errors, and
# a screenshot of the audit page's first screen is written under the build folder.
#
#   tests/html/chromium-check.sh BUILD_DIR DEFERBENCH SHARED_DATA
#
# Chromium is Debian's `chromium`, installed here when absent (as root, or with sudo without a
# password); where it cannot be, the test is skipped (exit 77) with a message naming what is
# missing. The page comes from banking77_llm when the shared data is beside the clone, else
# from the synthetic experiment.
set -euo pipefail
build=$(realpath "$1")
deferbench=$(realpath "$2")
shared=$3
out="$build/audit-page"

if ! command -v chromium > /dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
      > "$build/chromium-install.log" 2>&1 || true
  elif sudo -n true 2> /dev/null; then
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
      > "$build/chromium-install.log" 2>&1 || true
  fi
fi
if ! command -v chromium > /dev/null; then
  echo "SKIP: missing chromium (Debian: apt-get install chromium; could not install it here)"
  exit 77
fi

rm -rf "$out"
mkdir -p "$out"
cd "$out"
if [ -f "$shared/banking77/llm_traces_dev.csv" ] && [ -f "$shared/banking77/llm_traces_test.csv" ]; then
  "$deferbench" run -q experiment=banking77_llm "data_dir=$shared" results_dir=results audit=true \
    save_policy=policy threads=2
else
  echo "note: $shared/banking77/llm_traces_dev.csv missing: the page shows the synthetic experiment"
  "$deferbench" run -q experiment=synthetic results_dir=results audit=true save_policy=policy \
    threads=2
fi
run=$(realpath results/*/latest)
"$deferbench" run -q -m experiment=synthetic dataset.synthetic.rows=1500 seed=0,1 \
  results_dir=sweep jobs=1 > /dev/null
sweep=$(realpath sweep/*/latest)
[ -f "$sweep/report.html" ] || { echo "FAIL: $sweep/report.html missing"; exit 1; }

# Chromium in a private profile; console messages go to its log on stderr.
chrome() {
  local profile
  profile=$(mktemp -d "$out/profile.XXXXXX")
  timeout 120 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$profile" --enable-logging=stderr --v=0 --hide-scrollbars "$@" 2> "$out/chromium.err" || {
    echo "FAIL: chromium exited with $?: $(tail -n 3 "$out/chromium.err")"
    exit 1
  }
  rm -rf "$profile"
}
# Console errors, CSP refusals and failed loads as Chromium logs them.
console_errors() {
  grep -E 'CONSOLE|Refused to|Failed to load|net::ERR_' "$out/chromium.err" || true
}

# The check sees a console error where there is one (a control page with a failing script).
printf '<!DOCTYPE html><html><body><script>console.error("control-error"); missing();</script></body></html>' \
  > "$out/control.html"
chrome --dump-dom "file://$out/control.html" > /dev/null
if [ -z "$(console_errors)" ]; then
  echo "FAIL: the control page's console error was not seen; Chromium's log:"
  cat "$out/chromium.err"
  exit 1
fi

for page in "$run/report.html" "$sweep/report.html"; do
  chrome --dump-dom "file://$page" > "$out/dom.html"
  errors=$(console_errors)
  if [ -n "$errors" ]; then
    echo "FAIL: console errors on $page:"
    echo "$errors"
    exit 1
  fi
  # The page parsed: its headings are in the DOM Chromium built.
  grep -q '<h1>' "$out/dom.html" || { echo "FAIL: no <h1> in the DOM of $page"; exit 1; }
done
for part in "Routing flow" "Risk–coverage" "Coverage per teacher class" "Agreement gap" \
  "Contrastive boundary pairs" "Resolved config"; do
  grep -q "$part" "$run/report.html" || { echo "FAIL: '$part' missing from $run/report.html"; exit 1; }
done
grep -q 'table1_selection' "$sweep/report.html" || { echo "FAIL: no Table 1 in the sweep page"; exit 1; }

chrome --window-size=1400,1000 --screenshot="$out/report.png" "file://$run/report.html"
size=$(stat -c %s "$out/report.png")
signature=$(head -c 8 "$out/report.png" | od -An -tx1 | tr -d ' \n')
if [ "$signature" != "89504e470d0a1a0a" ] || [ "$size" -lt 20000 ]; then
  echo "FAIL: $out/report.png is not a screenshot (signature $signature, $size bytes)"
  exit 1
fi
echo "OK: both pages open without console errors; screenshot $out/report.png ($size bytes)"
