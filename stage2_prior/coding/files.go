package coding

import (
	"errors"
	"fmt"

	"github.com/vqgen/vqgen/datasets"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Load reads a prior checkpoint and returns its codec with the checkpoint.
func Load(path string) (*Codec, *prior.Checkpoint, error) {
	ck, err := prior.Load(path)
	if err != nil {
		return nil, nil, err
	}
	c, err := New(ck.Prior, ck.Path)
	if err != nil {
		return nil, nil, err
	}
	return c, ck, nil
}

// CheckCodes refuses a prior that does not belong to a code file's codes:
// trained on another VQ-VAE's codes, or for other grids. Prior coding
// works with any prior of the right K and grid in principle, but a prior
// of another VQ-VAE codes them poorly, and the mistake is almost always
// a wrong path.
func CheckCodes(ck *prior.Checkpoint, h datasets.CodeHeader) error {
	return ck.CheckMatches(h.Fingerprint.String(), h.K, h.GridH, h.GridW)
}

// OpenCodes opens a code file of any layout; a prior-coded one gets
// codec for its chunks (codec may be nil for other layouts). A prior-coded
// file without a codec, or with another prior's, is an error naming the
// prior it needs (datasets.ErrCodeNeedsPrior).
func OpenCodes(path string, codec *Codec) (*datasets.CodeFile, error) {
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		return nil, err
	}
	if f.Header().Layout != datasets.CodeLayoutPrior {
		return f, nil
	}
	if codec == nil {
		f.Close()
		return nil, fmt.Errorf("code file %s: %w: pass --prior with %v", path, datasets.ErrCodeNeedsPrior, f.Header().Prior)
	}
	if err := f.SetChunkCodec(codec); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ConvertStats reports a conversion.
type ConvertStats struct {
	Images           int64
	SrcBytes         int64
	DstBytes         int64
	SrcLayout        datasets.CodeLayout
	DstLayout        datasets.CodeLayout
	DstBytesPerImage float64
}

// Convert rewrites the code file src as dst in another layout: to
// datasets.CodeLayoutPrior (coded with codec), or to a zstd layout (0 for
// the default), reading a prior-coded src with codec. chunkImages sets
// dst's chunk size (0: the layout's default). dst is written atomically
// and an existing file is kept unless overwrite is set.
func Convert(src, dst string, layout datasets.CodeLayout, chunkImages int, codec *Codec, overwrite bool) (ConvertStats, error) {
	f, err := OpenCodes(src, codec)
	if err != nil {
		return ConvertStats{}, err
	}
	defer f.Close()
	h := f.Header()
	st := ConvertStats{Images: h.Count, SrcBytes: f.Size(), SrcLayout: h.Layout}
	out := h
	out.Layout, out.ChunkImages, out.Prior = layout, chunkImages, datasets.CodePrior{}
	var cw *datasets.CodeWriter
	if layout == datasets.CodeLayoutPrior {
		if codec == nil {
			return st, errors.New("converting to the prior layout needs the prior (--prior)")
		}
		if err := codec.checkHeader(&out); err != nil {
			return st, fmt.Errorf("%s: %w", src, err)
		}
		cw, err = datasets.CreateCodeFileCodec(dst, out, overwrite, codec)
	} else {
		cw, err = datasets.CreateCodeFile(dst, out, overwrite)
	}
	if err != nil {
		return st, err
	}
	// Whole chunks of src at a time: a prior-coded src decodes them in
	// parallel, and the writer encodes dst's chunks in parallel.
	codes, labels, err := f.LoadAll()
	if err != nil {
		cw.Abort()
		return st, err
	}
	keys, err := f.Keys() // nil without keys
	if err != nil {
		cw.Abort()
		return st, err
	}
	if err := cw.WriteBatchKeyed(codes, labels, keys); err != nil {
		cw.Abort()
		return st, err
	}
	if err := cw.Close(); err != nil {
		return st, err
	}
	g, err := datasets.OpenCodeFile(dst)
	if err != nil {
		return st, err
	}
	defer g.Close()
	st.DstBytes, st.DstLayout = g.Size(), g.Header().Layout
	if h.Count > 0 {
		st.DstBytesPerImage = float64(st.DstBytes) / float64(h.Count)
	}
	return st, nil
}

// EncodeDataset writes every image of ds as its code grid, prior-coded
// with codec, to a code file at path (written atomically; an existing file
// is kept unless overwrite is set): what `vqgen encode --prior P` does.
// progress, if not nil, is called after each batch of images.
func EncodeDataset(vq *vqvae.Model, ds *datasets.Dataset, path string, codec *Codec, overwrite bool, progress func(done, total int)) (err error) {
	if ds.C != vq.Image.Channels || ds.H != vq.Image.ImageSize || ds.W != vq.Image.ImageSize {
		return fmt.Errorf("%s has %dx%dx%d images; the VQ-VAE was trained on %dx%dx%d", ds.Name, ds.C, ds.H, ds.W,
			vq.Image.Channels, vq.Image.ImageSize, vq.Image.ImageSize)
	}
	h := vq.CodeHeader(ds)
	h.Layout = datasets.CodeLayoutPrior
	if err := codec.checkHeader(&h); err != nil {
		return fmt.Errorf("the prior does not fit the VQ-VAE: %w", err)
	}
	w, err := datasets.CreateCodeFileCodec(path, h, overwrite, codec)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	step := 8 * imageBatch
	images := make([][]float32, 0, step)
	for lo := 0; lo < ds.N; lo += step {
		hi := min(lo+step, ds.N)
		images = images[:0]
		for i := lo; i < hi; i++ {
			images = append(images, ds.Image(i))
		}
		grids, err := encodeImages(vq, images)
		if err != nil {
			return err
		}
		var labels []int32
		if ds.Labels != nil {
			labels = ds.Labels[lo:hi]
		}
		var keys []string
		if ds.Keys != nil {
			keys = ds.Keys[lo:hi]
		}
		if err := w.WriteBatchKeyed(grids, labels, keys); err != nil {
			return err
		}
		if progress != nil {
			progress(hi, ds.N)
		}
	}
	return w.Close()
}
