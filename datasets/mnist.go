package datasets

import (
	"embed"
	"fmt"
	"sync"
)

// The four MNIST files ship inside the binary (about 11.6 MB gzipped); see
// mnist/README.md for their origin and licence.
//
//go:embed mnist/*.gz
var mnistFS embed.FS

type mnistCache struct {
	once sync.Once
	ds   *Dataset
	err  error
}

// Decoding MNIST costs a few hundred milliseconds and 188 MB for the training
// split, so each split is decoded at most once per process and shared.
var mnistSplits = map[string]*mnistCache{"train": {}, "test": {}}

// MNIST returns the embedded MNIST split "train" (60000 images) or "test"
// (10000), 1x28x28 pixels in [0, 1] with labels 0-9. The returned Dataset
// is the caller's, but its Pixels and Labels are shared by every caller and
// must not be modified.
func MNIST(split string) (*Dataset, error) {
	c, ok := mnistSplits[split]
	if !ok {
		return nil, fmt.Errorf("MNIST split %q: want train or test", split)
	}
	c.once.Do(func() { c.ds, c.err = decodeMNIST(split) })
	if c.err != nil {
		return nil, c.err
	}
	ds := *c.ds
	return &ds, nil
}

func decodeMNIST(split string) (*Dataset, error) {
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	imgName := "mnist/" + prefix + "-images-idx3-ubyte.gz"
	labName := "mnist/" + prefix + "-labels-idx1-ubyte.gz"
	var (
		img, lab       *IDX
		imgErr, labErr error
		wg             sync.WaitGroup
	)
	// The label file is tiny; decoding it alongside the images is free.
	wg.Go(func() { lab, labErr = readEmbedded(labName) })
	img, imgErr = readEmbedded(imgName)
	wg.Wait()
	if imgErr != nil {
		return nil, imgErr
	}
	if labErr != nil {
		return nil, labErr
	}
	ds, err := idxDataset("mnist:"+split, img, "embedded "+imgName, lab, "embedded "+labName)
	if err != nil {
		return nil, err
	}
	if ds.H != 28 || ds.W != 28 || ds.Classes != 10 {
		return nil, fmt.Errorf("embedded MNIST %s: %dx%d images with %d classes, want 28x28 and 10", split, ds.H, ds.W, ds.Classes)
	}
	return ds, nil
}

func readEmbedded(name string) (*IDX, error) {
	data, err := mnistFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("embedded MNIST: %v", err)
	}
	return DecodeIDX(data, "embedded "+name)
}
