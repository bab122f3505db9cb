// Command photos builds a reproducible set of photo crops for training and
// testing vqgen on photographs: square crops at several scales of real
// photographs shipped in Debian's wallpaper packages, each downscaled 2 to
// 16 times to the chosen size, split by source photograph so that no test
// or hold-out crop comes from a training photograph. build.sh fetches the
// packages and runs it; see README.md.
//
//	go run ./datasets/photos -src /tmp/vqgen-photos/x -out runs/photoset64 -size 64
//
// Every crop is drawn from a generator seeded by (seed, split, crop number),
// so the same flags write the same files, whatever the number of cores.
package main

import (
	"flag"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vqgen/vqgen/datasets"
)

// source is one photograph: the Debian package that ships it, its path in
// the package, and the split its crops go to.
type source struct {
	pkg, path, split string
}

// sources are the photographs (not drawings, renderings or grey images) of
// the packages build.sh fetches, chosen by looking at each. The test and hold-out
// photographs were picked to span the kinds in the training set (close-ups,
// landscapes, textures, a monochrome scene); hold-out crops are for a final
// check only, never for choosing settings.
var sources = []source{
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/Dragonfly_by_Bolly.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/Picture_1A_by_freespace.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/free_by_Peter_Nerlich.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg", "train"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg", "train"},
	{"lomiri-wallpapers-20.04", "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg", "train"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/Aqua.jpg", "train"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/Blinds.jpg", "train"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/Dune.jpg", "train"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/FreshFlower.jpg", "train"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/GreenMeadow.jpg", "train"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/RainDrops.jpg", "train"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/Storm.jpg", "train"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/Wood.jpg", "train"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg", "train"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/ColdRipple/contents/images/2560x1600.jpg", "train"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg", "train"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg", "train"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg", "train"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/Kite/contents/images/2560x1600.jpg", "train"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg", "train"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/Path/contents/images/2560x1600.jpg", "train"},
	// Test photographs of computer-vision examples: smaller (400-1280 px),
	// so at 64 px their crops reach 4-8x downscales, not 16.
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/alphamat/input_images/plant.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/aero1.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/aero3.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/aloeL.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/apple.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/board.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/butterfly.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/chicky_512.png", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/home.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/leuvenA.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/leuvenB.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/messi5.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/orange.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/rubberwhale1.png", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/smarties.png", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/squirrel_cls.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/hfs/data/000.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/text/scenetext01.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/text/scenetext03.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/text/scenetext04.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/text/scenetext05.jpg", "train"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/text/scenetext06.jpg", "train"},
	{"python-matplotlib-data", "usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg", "train"},
	{"python3-skimage", "usr/lib/python3/dist-packages/skimage/data/astronaut.png", "train"},
	{"python3-skimage", "usr/lib/python3/dist-packages/skimage/data/chelsea.png", "train"},
	{"python3-skimage", "usr/lib/python3/dist-packages/skimage/data/hubble_deep_field.jpg", "train"},
	{"python3-skimage", "usr/lib/python3/dist-packages/skimage/data/motorcycle_left.png", "train"},

	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/Picture_0B_by_freespace.jpg", "test"},
	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg", "test"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/Garden.jpg", "test"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg", "test"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg", "test"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/fruits.jpg", "test"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/building.jpg", "test"},
	{"python3-skimage", "usr/lib/python3/dist-packages/skimage/data/rocket.jpg", "test"},

	{"lomiri-wallpapers-16.04", "usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg", "holdout"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/TwoWings.jpg", "holdout"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/LadyBird.jpg", "holdout"},
	{"mate-backgrounds", "usr/share/backgrounds/mate/nature/YellowFlower.jpg", "holdout"},
	{"plasma-workspace-wallpapers", "usr/share/wallpapers/Grey/contents/images/2560x1600.jpg", "holdout"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/data/baboon.jpg", "holdout"},
	{"python3-skimage", "usr/lib/python3/dist-packages/skimage/data/coffee.png", "holdout"},
	{"opencv-doc", "usr/share/doc/opencv-doc/examples/text/scenetext02.jpg", "holdout"},
}

// name is a short file-name prefix for a source.
func (s source) name() string {
	base := strings.TrimSuffix(filepath.Base(s.path), filepath.Ext(s.path))
	switch {
	case strings.Contains(s.path, "/wallpapers/"): // plasma: .../NAME/contents/images/WxH.jpg
		base = strings.Split(strings.TrimPrefix(s.path, "usr/share/wallpapers/"), "/")[0]
	case strings.HasSuffix(s.path, "hfs/data/000.jpg"):
		base = "robin"
	}
	if i := strings.Index(base, "_by_"); i > 0 {
		base = base[:i]
	}
	return base
}

type options struct {
	src, out           string
	size               int
	counts             map[string]int
	minScale, maxScale float64
	seed               uint64
}

func main() {
	var o options
	var train, test, holdout int
	flag.StringVar(&o.src, "src", "", "folder the packages were extracted into, one subfolder per package (build.sh makes it)")
	flag.StringVar(&o.out, "out", "", "output folder; gets train/, test/ and holdout/ of PNG crops (must not exist yet)")
	flag.IntVar(&o.size, "size", 64, "side of the square crops, in pixels")
	flag.IntVar(&train, "train", 20000, "crops from the training photographs")
	flag.IntVar(&test, "test", 1000, "crops from the test photographs")
	flag.IntVar(&holdout, "holdout", 1000, "crops from the hold-out photographs")
	flag.Float64Var(&o.minScale, "min-scale", 2, "smallest downscale factor: a crop covers size*scale source pixels")
	flag.Float64Var(&o.maxScale, "max-scale", 16, "largest downscale factor (log-uniform between the two)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the crop positions and scales")
	flag.Parse()
	o.counts = map[string]int{"train": train, "test": test, "holdout": holdout}
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, "photos:", err)
		os.Exit(1)
	}
}

func build(o options) error {
	if o.src == "" || o.out == "" {
		return fmt.Errorf("-src and -out are required")
	}
	if o.size < 1 || o.size > 4096 || !(o.minScale >= 1 && o.maxScale >= o.minScale) {
		return fmt.Errorf("-size %d, -min-scale %g, -max-scale %g: want size 1 to 4096 and 1 <= min-scale <= max-scale", o.size, o.minScale, o.maxScale)
	}
	if _, err := os.Stat(o.out); err == nil {
		return fmt.Errorf("%s already exists; remove it or choose another -out", o.out)
	}
	for _, split := range []string{"train", "test", "holdout"} {
		var srcs []source
		for _, s := range sources {
			if s.split == split {
				srcs = append(srcs, s)
			}
		}
		if err := buildSplit(o, split, srcs); err != nil {
			return err
		}
	}
	return nil
}

// buildSplit writes o.counts[split] crops, crop i from photograph
// i mod len(srcs), one photograph at a time so that only one is decoded in
// memory.
func buildSplit(o options, split string, srcs []source) error {
	n := o.counts[split]
	dir := filepath.Join(o.out, split)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	splitID := map[string]uint64{"train": 1, "test": 2, "holdout": 3}[split]
	for si, s := range srcs {
		img, err := datasets.DecodeFile(filepath.Join(o.src, s.pkg, s.path))
		if err != nil {
			return fmt.Errorf("%v (run build.sh, which fetches the packages)", err)
		}
		var crops []int
		for i := si; i < n; i += len(srcs) {
			crops = append(crops, i)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, runtime.GOMAXPROCS(0))
		for w := range errs {
			wg.Go(func() {
				for {
					k := int(next.Add(1) - 1)
					if k >= len(crops) || errs[w] != nil {
						return
					}
					i := crops[k]
					rng := rand.New(rand.NewPCG(o.seed, splitID<<32|uint64(i)))
					pix := crop(img, o, rng)
					p := filepath.Join(dir, fmt.Sprintf("%s-%06d.png", s.name(), i))
					errs[w] = datasets.WritePNG(p, pix, 3, o.size, o.size)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "%s: %s: %d crops\n", split, s.name(), len(crops))
	}
	return nil
}

// crop draws a scale log-uniformly in [minScale, maxScale], a square of
// size*scale source pixels (at most the photograph's shorter side) at a
// uniform position, and renders it at size x size.
func crop(img image.Image, o options, rng *rand.Rand) []float32 {
	b := img.Bounds()
	scale := math.Exp(math.Log(o.minScale) + rng.Float64()*(math.Log(o.maxScale)-math.Log(o.minScale)))
	side := min(int(math.Round(float64(o.size)*scale)), b.Dx(), b.Dy())
	x := b.Min.X + rng.IntN(b.Dx()-side+1)
	y := b.Min.Y + rng.IntN(b.Dy()-side+1)
	sub := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(x, y, x+side, y+side))
	return datasets.Render(sub, o.size, 3)
}
