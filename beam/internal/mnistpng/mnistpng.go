// Package mnistpng writes MNIST images out as a folder of PNG files, one
// folder per class, the layout vqgen's images:DIR reads with labels: the
// test collections of vqgen-beam and the acceptance measurement on 60,000
// training images.
package mnistpng

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
)

// Write writes the first n images of MNIST's split ("train" or "test"; n <=
// 0: all of them) to dir/<digit>/<index>.png, five-digit indices, and
// returns the number written. The PNGs are 8-bit grey, so they decode to
// exactly MNIST's pixels.
func Write(dir, split string, n int) (int, error) {
	ds, err := datasets.MNIST(split)
	if err != nil {
		return 0, err
	}
	if n <= 0 || n > ds.N {
		n = ds.N
	}
	// Folders only for the digits among the n: vqgen refuses an empty
	// class folder.
	for i := range n {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprint(ds.Labels[i])), 0o755); err != nil {
			return 0, err
		}
	}
	errs := make([]error, n)
	nn.ParallelFor(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			p := filepath.Join(dir, fmt.Sprint(ds.Labels[i]), fmt.Sprintf("%05d.png", i))
			errs[i] = datasets.WritePNG(p, ds.Image(i), ds.C, ds.H, ds.W)
		}
	})
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}
