package configs

import "fmt"

// DataFacts describes the data a configuration names, as found before any
// training (package datasets' Describe lists files without decoding them).
// CheckData checks a configuration against it.
type DataFacts struct {
	Train, Test DataSplit
}

// DataSplit describes one dataset.
type DataSplit struct {
	Spec    string // as the config names it, for messages
	Images  int
	Classes int // 0 when unlabelled (always with data.labels = "none")
	// H, W and C are the images' own shape when it cannot change (MNIST
	// and IDX files); 0 for image folders, which are resized to
	// data.image_size with data.channels.
	H, W, C int
}

// CheckData checks the configuration against the data it names and
// resolves what was left to the data: prior.conditional = "auto" becomes
// true exactly when the training data has labels. It returns the resolved
// copy, or an *Error naming every key at fault and the data that
// contradicts it. A pipeline calls it before any training, so a run never
// fails late on something it could have known at the start: a conditional
// prior over unlabelled photos, a validation split larger than the data, a
// batch that does not fit, MNIST at a size it cannot be resized to.
func (c *Config) CheckData(f DataFacts) (*Config, error) {
	var v checker
	d := c.Data
	for _, s := range []struct {
		key string
		sp  DataSplit
	}{{"data.train", f.Train}, {"data.test", f.Test}} {
		if s.sp.Images < 1 {
			v.add(s.key, fmt.Sprintf("%q", s.sp.Spec), "has no images")
		}
		if s.sp.C == 0 {
			continue
		}
		if s.sp.H != d.ImageSize || s.sp.W != d.ImageSize {
			v.add("data.image_size", fmtInt(d.ImageSize), fmt.Sprintf("%s = %s has %dx%d images, which are used as they are; set data.image_size = %d", s.key, s.sp.Spec, s.sp.W, s.sp.H, s.sp.H))
		}
		if s.sp.C != d.Channels {
			v.add("data.channels", fmtInt(d.Channels), fmt.Sprintf("%s = %s has %d-channel images; set data.channels = %d", s.key, s.sp.Spec, s.sp.C, s.sp.C))
		}
	}

	n := f.Train.Images
	if d.TrainLimit > 0 {
		n = min(n, d.TrainLimit)
	}
	if n > 0 {
		if d.ValCount >= n {
			v.add("data.val_count", fmtInt(d.ValCount), fmt.Sprintf("leaves no training images: data.train = %s has %d (after data.train_limit)", f.Train.Spec, n))
		} else if b := c.VQVAE.Train.Batch; b > n-d.ValCount {
			v.add("vqvae.train.batch", fmtInt(b), fmt.Sprintf("more than the %d training images of data.train = %s left after data.val_count = %d", n-d.ValCount, f.Train.Spec, d.ValCount))
		}
		if c.Prior.ValCount >= n {
			v.add("prior.val_count", fmtInt(c.Prior.ValCount), fmt.Sprintf("leaves no training grids: data.train = %s has %d images (after data.train_limit)", f.Train.Spec, n))
		}
	}

	labelled := f.Train.Classes > 0
	cond := c.Prior.Conditional.On(labelled)
	if cond && !labelled {
		why := "it has no class folders"
		if d.Labels == "none" {
			why = `data.labels = "none" drops them`
		}
		v.add("prior.conditional", c.Prior.Conditional.String(), fmt.Sprintf(`data.train = %s has no labels (%s); set prior.conditional = "auto" or false for an unconditional prior`, f.Train.Spec, why))
	}
	if cond && labelled && f.Test.Images > 0 {
		switch {
		case f.Test.Classes == 0:
			v.add("data.test", fmt.Sprintf("%q", f.Test.Spec), fmt.Sprintf("has no labels, but the prior is class-conditional (prior.conditional = %s, data.train has %d classes) and the run edits test images under their class; name a labelled test set, or set prior.conditional = false", c.Prior.Conditional, f.Train.Classes))
		case f.Test.Classes != f.Train.Classes:
			v.add("data.test", fmt.Sprintf("%q", f.Test.Spec), fmt.Sprintf("has %d classes, data.train = %s has %d; a class-conditional prior needs the same classes in both", f.Test.Classes, f.Train.Spec, f.Train.Classes))
		}
	}
	if len(v.probs) > 0 {
		return nil, &Error{Problems: v.probs}
	}
	out := *c
	out.Prior.Conditional = Of(cond)
	return &out, nil
}
