package vqvae

import (
	"fmt"

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
		Keys:        ds.Keys != nil,
		Fingerprint: datasets.CodeFingerprint(m.Fingerprint()),
	}
}

// EncodeDataset writes every image of ds as its code grid to a code file at
// path, through a temporary file renamed on success (an existing file is
// replaced only with overwrite). Batches run through the encoder one after
// another; each batch is spread over all cores by the layers themselves.
// progress, if not nil, is called after each batch. Batches larger than
// 500 MNIST images' worth of pixels are cut down (see capBatch). Images keep their keys
// (an image folder's relative paths) when the dataset has them.
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
	batch = m.capBatch(batch)
	gh, gw := m.GridSize()
	cells := gh * gw
	idx := make([]int, 0, batch)
	codes := make([]int32, batch*cells)
	grids := make([]uint16, batch*cells)
	var x *nn.Tensor
	var labels []int32
	for lo := 0; lo < ds.N; lo += batch {
		hi := min(lo+batch, ds.N)
		idx = idx[:0]
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
		x, labels = ds.Batch(idx, x, labels)
		n := hi - lo
		m.Encode(x, codes[:n*cells])
		for i, c := range codes[:n*cells] {
			grids[i] = uint16(c)
		}
		var keys []string
		if ds.Keys != nil {
			keys = ds.Keys[lo:hi]
		}
		if err := w.WriteBatchKeyed(grids[:n*cells], labels, keys); err != nil {
			return err
		}
		if progress != nil {
			progress(hi, ds.N)
		}
	}
	return w.Close()
}
