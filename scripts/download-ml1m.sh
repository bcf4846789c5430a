#!/usr/bin/env bash
# Downloads MovieLens-1M (GroupLens) for configs/paper-ml1m.yaml and checks it: data/ml-1m/ratings.dat
# with 1,000,209 ratings by 6,040 users. Needs network access to files.grouplens.org (this project's
# build machines have none: the script then says so and exits 1).
#   bash scripts/download-ml1m.sh [DEST_DIR]        (default data/)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-data}
URL=https://files.grouplens.org/datasets/movielens/ml-1m.zip
mkdir -p "$DEST"
if [[ -f "$DEST/ml-1m/ratings.dat" ]]; then
  echo "already there: $DEST/ml-1m/ratings.dat"
else
  command -v unzip > /dev/null || { echo "download-ml1m.sh: needs unzip (apt-get install unzip)" >&2; exit 2; }
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  if command -v curl > /dev/null; then fetch=(curl -fL --retry 3 -o "$tmp/ml-1m.zip" "$URL")
  else fetch=(wget -q -O "$tmp/ml-1m.zip" "$URL"); fi
  if ! "${fetch[@]}"; then
    echo "download-ml1m.sh: could not download $URL (no network?); place ratings.dat at $DEST/ml-1m/ yourself" >&2
    exit 1
  fi
  unzip -q "$tmp/ml-1m.zip" -d "$tmp"
  mkdir -p "$DEST/ml-1m"
  mv "$tmp/ml-1m/ratings.dat" "$DEST/ml-1m/ratings.dat.part"
  mv "$DEST/ml-1m/ratings.dat.part" "$DEST/ml-1m/ratings.dat"
fi
lines=$(wc -l < "$DEST/ml-1m/ratings.dat")
users=$(cut -d: -f1 "$DEST/ml-1m/ratings.dat" | sort -u | wc -l)
if [[ "$lines" != 1000209 || "$users" != 6040 ]]; then
  echo "download-ml1m.sh: $DEST/ml-1m/ratings.dat has $lines ratings by $users users, expected 1000209 by 6040" >&2
  exit 1
fi
echo "ok: $DEST/ml-1m/ratings.dat: $lines ratings by $users users (sha256 $(sha256sum "$DEST/ml-1m/ratings.dat" | cut -c1-16)...)"
