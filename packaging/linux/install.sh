#!/bin/sh
# Adds Tandem from this unpacked folder to the current user's menu and PATH:
#   ./install.sh              menu entry, icons, and ~/.local/bin/tandem
#   ./install.sh --uninstall  removes them again (this folder and your data stay)
# Nothing needs root. Your data lives in ~/.local/share/Tandem, never in this folder.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd -P)
APP_ID=app.tandem.Tandem
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
BIN_DIR=$HOME/.local/bin
APPS=$DATA_HOME/applications
ICONS=$DATA_HOME/icons/hicolor

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

# Check every folder first, so a refusal leaves nothing half installed.
writable() {
  dir=$1
  while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  [ -d "$dir" ] && [ -w "$dir" ]
}

for dir in "$BIN_DIR" "$APPS" "$ICONS"; do
  writable "$dir" || fail "cannot write to $dir (permission denied); nothing was changed"
done
[ -x "$HERE/Tandem" ] || fail "no Tandem program next to this script ($HERE)"

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$BIN_DIR/tandem" "$APPS/$APP_ID.desktop"
  find "$ICONS" -name "$APP_ID.*" -type f -delete 2>/dev/null || true
  echo "Tandem is no longer in your menu. Your data in $DATA_HOME/Tandem was kept."
  exit 0
fi

mkdir -p "$BIN_DIR" "$APPS"
for png in "$HERE"/share/icons/*.png; do
  size=$(basename "$png" .png)
  mkdir -p "$ICONS/$size/apps"
  cp "$png" "$ICONS/$size/apps/$APP_ID.png"
done
mkdir -p "$ICONS/scalable/apps"
cp "$HERE/share/icons/$APP_ID.svg" "$ICONS/scalable/apps/$APP_ID.svg"
ln -sf "$HERE/Tandem" "$BIN_DIR/tandem"
sed "s|^Exec=.*|Exec=\"$HERE/Tandem\"|" "$HERE/share/$APP_ID.desktop" >"$APPS/$APP_ID.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$APPS" || true
echo "Tandem is in your menu; \`tandem\` starts it from a terminal (with $BIN_DIR on PATH)."
