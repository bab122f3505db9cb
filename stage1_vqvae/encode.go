package vqvae

import (
	"fmt"
	"sync/atomic"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
)

// CodeHeader returns the header of a code file holding ds encoded by m.
func (m *Model) CodeHeader(ds *datasets.Dataset) datasets.CodeHeader {
	gh, gw := m.GridSize()
	return datasets.CodeHeader{
		Count: int64(ds.N), GridH: gh, GridW: gw, K: m.Cfg.K,
		ImageH: ds.H, ImageW: ds.W, Channels: ds.C,
		Labels: ds.Labels != nil, NumClasses: ds.Classes,
		Fingerprint: datasets.CodeFingerprint(m.Fingerprint()),
	}
}

// EncodeDataset writes every image of ds as its code grid to a code file at
// path, through a temporary file renamed on success (an existing file is
// replaced only with overwrite). Batches run through the encoder one after
// another; each batch is spread over all cores by the layers themselves.
// The file is written on a goroutine of its own, so that compressing a
// chunk (zstd at its best level, single-threaded) overlaps the encoding of
// the next batches instead of leaving the cores idle. progress, if not
// nil, is called after each batch is encoded.
func EncodeDataset(m *Model, ds *datasets.Dataset, path string, overwrite bool, batch int, progress func(done, total int)) (err error) {
	if ds.C != m.Image.Channels || ds.H != m.Image.ImageSize || ds.W != m.Image.ImageSize {
		return fmt.Errorf("%s has %dx%dx%d images; the VQ-VAE was trained on %dx%dx%d", ds.Name, ds.C, ds.H, ds.W,
			m.Image.Channels, m.Image.ImageSize, m.Image.ImageSize)
	}
	w, err := datasets.CreateCodeFile(path, m.CodeHeader(ds), overwrite)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	gh, gw := m.GridSize()
	cells := gh * gw
	type encoded struct {
		grids  []uint16
		labels []int32
	}
	// Three buffers: one being filled, one queued, one being written.
	const buffers = 3
	free, full := make(chan *encoded, buffers), make(chan *encoded, buffers)
	for range buffers {
		free <- &encoded{grids: make([]uint16, 0, batch*cells)}
	}
	written := make(chan error, 1)
	var failed atomic.Bool // stops the encoding early once a write failed
	go func() {
		var werr error
		for e := range full {
			if werr == nil {
				if werr = w.WriteBatch(e.grids, e.labels); werr != nil {
					failed.Store(true)
				}
			}
			free <- e
		}
		written <- werr
	}()
	idx := make([]int, 0, batch)
	codes := make([]int32, batch*cells)
	var x *nn.Tensor
	var labels []int32
	for lo := 0; lo < ds.N && !failed.Load(); lo += batch {
		hi := min(lo+batch, ds.N)
		idx = idx[:0]
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
		x, labels = ds.Batch(idx, x, labels)
		n := hi - lo
		m.Encode(x, codes[:n*cells])
		e := <-free
		e.grids = e.grids[:n*cells]
		for i, c := range codes[:n*cells] {
			e.grids[i] = uint16(c)
		}
		e.labels = append(e.labels[:0], labels...)
		full <- e
		if progress != nil {
			progress(hi, ds.N)
		}
	}
	close(full)
	if err := <-written; err != nil {
		return err
	}
	return w.Close()
}
