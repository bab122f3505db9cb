package app

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/vqgen/vqgen/datasets"
)

// MergeOptions configure joining code-file shards into one file.
type MergeOptions struct {
	// Inputs are the shards: code files of one dataset, encoded by one
	// VQ-VAE (vqgen-beam encode writes them, codes-00000-of-00008.vqc ...).
	Inputs []string `json:"inputs"`
	Out    string   `json:"out"` // the code file to write
	// Prior is the prior that reads and codes prior-coded shards.
	Prior string `json:"prior"`
	Force bool   `json:"force"`
}

// Merged describes a merged code file.
type Merged struct {
	Path    string  `json:"path"`
	Inputs  int     `json:"inputs"`
	Images  int64   `json:"images"`
	Bytes   int64   `json:"bytes"`
	Layout  string  `json:"layout"`
	Keys    bool    `json:"keys"` // ordered by key (else concatenated in the order given)
	Seconds float64 `json:"seconds"`
}

// Merge joins code-file shards into one code file. The shards must agree
// in every field that makes them one dataset (VQ-VAE fingerprint, grid, K,
// image shape, labels and classes, keys, layout and prior); the first
// disagreement is refused naming the field and both files. Shards with
// per-image keys are merged in key order, the order `vqgen encode` writes
// an image folder in, so the shards of one folder merge to exactly the file
// one machine writes whatever the sharding; shards without keys are
// concatenated in the order given. Out is written atomically and replaced
// only with Force.
func Merge(ctx context.Context, o MergeOptions, prog Progress) (*Merged, error) {
	if len(o.Inputs) == 0 {
		return nil, errors.New("no code files to merge: give the shards")
	}
	if o.Out == "" {
		return nil, optionErr("out", `"": give the code file to write`)
	}
	for _, in := range o.Inputs {
		if abs(in) == abs(o.Out) {
			return nil, optionErr("out", "%s: one of the shards being merged; write to another path", o.Out)
		}
	}
	if err := CheckOutputs(o.Force, o.Out); err != nil {
		return nil, err
	}
	opt := datasets.CodeMergeOptions{Overwrite: o.Force}
	if f, err := datasets.OpenCodeFile(o.Inputs[0]); err != nil {
		return nil, err
	} else {
		if f.Header().Layout == datasets.CodeLayoutPrior {
			r := codeReader{path: o.Prior}
			c, err := r.codecFor(f)
			if err != nil {
				f.Close()
				return nil, err
			}
			opt.Codec = c
		}
		f.Close()
	}
	prog = nop(prog)
	started := false
	opt.Progress = func(done, total int64) error {
		if !started {
			prog.Begin(Phase{Name: "merge " + filepath.Base(o.Out), Total: int(total), ItemsPerUnit: 1, Item: "img"})
			started = true
		}
		prog.Update(int(done))
		return ctx.Err()
	}
	start := time.Now()
	hdr, err := datasets.MergeCodeFiles(o.Out, o.Inputs, opt)
	if started {
		prog.End()
	}
	if err != nil {
		return nil, err
	}
	m := &Merged{Path: o.Out, Inputs: len(o.Inputs), Images: hdr.Count, Layout: hdr.Layout.String(), Keys: hdr.Keys,
		Seconds: time.Since(start).Seconds()}
	f, err := datasets.OpenCodeFile(o.Out)
	if err != nil {
		return nil, err
	}
	m.Bytes = f.Size()
	f.Close()
	return m, nil
}
