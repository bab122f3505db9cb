#!/bin/sh
# Build the photo crop set: fetch the Debian wallpaper packages that hold the
# photographs listed in main.go, extract them, and cut crops.
#
#   datasets/photos/build.sh OUT [SIZE] [TRAIN] [TEST] [HOLDOUT]
#
# e.g. datasets/photos/build.sh runs/photoset64 64 20000 1000 1000
# writes runs/photoset64/{train,test,holdout}/*.png. The packages are kept
# in $VQGEN_PHOTO_CACHE (default /tmp/vqgen-photos) for later builds.
# Needs apt-get download and dpkg -x (Debian or Ubuntu), and Go.
set -eu
out=${1:?usage: build.sh OUT [SIZE] [TRAIN] [TEST] [HOLDOUT]}
size=${2:-64}
train=${3:-20000}
test=${4:-1000}
holdout=${5:-1000}
cache=${VQGEN_PHOTO_CACHE:-/tmp/vqgen-photos}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache/debs" "$cache/x"
for pkg in lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 mate-backgrounds plasma-workspace-wallpapers opencv-doc python-matplotlib-data python3-skimage; do
	if [ ! -d "$cache/x/$pkg" ]; then
		(cd "$cache/debs" && ls "${pkg}"_*.deb >/dev/null 2>&1 || apt-get download "$pkg")
		dpkg -x "$cache/debs/${pkg}"_*.deb "$cache/x/$pkg.tmp"
		mv "$cache/x/$pkg.tmp" "$cache/x/$pkg"
	fi
done
cd "$here/../.."
exec go run ./datasets/photos -src "$cache/x" -out "$out" -size "$size" -train "$train" -test "$test" -holdout "$holdout"
