package coding

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/progress"
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
		return nil, fmt.Errorf("%s: %w: it needs the prior %v", path, datasets.ErrCodeNeedsPrior, f.Header().Prior)
	}
	if err := f.SetChunkCodec(codec); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReportReads makes reads of the whole of f (LoadAll, Stats, Iterate)
// report to prog, as a phase named "decode FILE", and stop with ctx's
// error when ctx is done. Only a prior-coded file reports: the others read
// in a blink. The returned function ends the phase and removes the hook.
func ReportReads(ctx context.Context, f *datasets.CodeFile, prog progress.Reporter) (end func()) {
	if f.Header().Layout != datasets.CodeLayoutPrior {
		f.SetProgress(func(int64) error { return ctx.Err() })
		return func() { f.SetProgress(nil) }
	}
	prog = progress.Or(prog)
	prog.Begin(progress.Phase{Name: "decode " + filepath.Base(f.Name()), Total: int(f.Count()), ItemsPerUnit: 1, Item: "img"})
	f.SetProgress(func(done int64) error {
		prog.Update(int(done))
		return ctx.Err()
	})
	return func() {
		f.SetProgress(nil)
		prog.End()
	}
}

// writeInSteps writes n images (grids back to back, labels and keys or nil) to cw a
// few chunks at a time, so that the encoding chunks keep every core busy
// while progress is reported (a phase named name) and ctx is checked.
func writeInSteps(ctx context.Context, cw *datasets.CodeWriter, grids []uint16, labels []int32, keys []string, n int, name string, prog progress.Reporter) error {
	h := cw.Header()
	cells := h.Cells()
	step := max(1, h.ChunkImages) * runtime.GOMAXPROCS(0)
	prog = progress.Or(prog)
	prog.Begin(progress.Phase{Name: name, Total: n, ItemsPerUnit: 1, Item: "img"})
	defer prog.End()
	for lo := 0; lo < n; lo += step {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+step, n)
		var l []int32
		if labels != nil {
			l = labels[lo:hi]
		}
		var k []string
		if keys != nil {
			k = keys[lo:hi]
		}
		if err := cw.WriteBatchKeyed(grids[lo*cells:hi*cells], l, k); err != nil {
			return err
		}
		prog.Update(hi)
	}
	return nil
}

// ConvertOptions configure Convert.
type ConvertOptions struct {
	// Layout is the destination's layout: datasets.CodeLayoutPrior
	// (coded with Codec), or a zstd layout (0 for the default).
	Layout datasets.CodeLayout
	// ChunkImages sets the destination's chunk size (0: the layout's
	// default).
	ChunkImages int
	// Codec reads a prior-coded source and writes a prior-coded
	// destination.
	Codec *Codec
	// Overwrite replaces an existing destination.
	Overwrite bool
	// Verify reads the destination back and compares it with the source.
	Verify bool
}

// ErrNoCodec is returned when converting to the prior layout without a
// codec.
var ErrNoCodec = errors.New("the prior layout needs a prior to code with")

// ConvertStats reports a conversion.
type ConvertStats struct {
	Images           int64
	SrcBytes         int64
	DstBytes         int64
	SrcLayout        datasets.CodeLayout
	DstLayout        datasets.CodeLayout
	SrcPrior         datasets.CodePrior // the prior of a prior-coded source
	DstPrior         datasets.CodePrior // the prior of a prior-coded destination
	DstBytesPerImage float64
	Verified         bool
}

// Convert rewrites the code file src as dst in another layout (see
// ConvertOptions), reporting to prog (nil: silent) and stopping when ctx
// is done. dst is written atomically: nothing appears at its path unless
// the whole file was written.
func Convert(ctx context.Context, src, dst string, o ConvertOptions, prog progress.Reporter) (ConvertStats, error) {
	f, err := OpenCodes(src, o.Codec)
	if err != nil {
		return ConvertStats{}, err
	}
	defer f.Close()
	h := f.Header()
	st := ConvertStats{Images: h.Count, SrcBytes: f.Size(), SrcLayout: h.Layout, SrcPrior: h.Prior}
	out := h
	out.Layout, out.ChunkImages, out.Prior = o.Layout, o.ChunkImages, datasets.CodePrior{}
	var cw *datasets.CodeWriter
	if o.Layout == datasets.CodeLayoutPrior {
		if o.Codec == nil {
			return st, ErrNoCodec
		}
		if err := o.Codec.checkHeader(&out); err != nil {
			return st, fmt.Errorf("%s: %w", src, err)
		}
	}
	// The whole source first: a prior-coded one decodes a chunk per core.
	end := ReportReads(ctx, f, prog)
	codes, labels, err := f.LoadAll()
	end()
	if err != nil {
		return st, err
	}
	keys, err := f.Keys() // nil without keys
	if err != nil {
		return st, err
	}
	if o.Layout == datasets.CodeLayoutPrior {
		cw, err = datasets.CreateCodeFileCodec(dst, out, o.Overwrite, o.Codec)
	} else {
		cw, err = datasets.CreateCodeFile(dst, out, o.Overwrite)
	}
	if err != nil {
		return st, err
	}
	if err := writeInSteps(ctx, cw, codes, labels, keys, int(h.Count), "write "+filepath.Base(dst), prog); err != nil {
		cw.Abort()
		return st, err
	}
	if err := cw.Close(); err != nil {
		return st, err
	}
	g, err := OpenCodes(dst, o.Codec)
	if err != nil {
		return st, err
	}
	defer g.Close()
	st.DstBytes, st.DstLayout, st.DstPrior = g.Size(), g.Header().Layout, g.Header().Prior
	if h.Count > 0 {
		st.DstBytesPerImage = float64(st.DstBytes) / float64(h.Count)
	}
	if o.Verify {
		end := ReportReads(ctx, g, prog)
		got, gotL, err := g.LoadAll()
		end()
		if err != nil {
			return st, fmt.Errorf("verifying %s: %w", dst, err)
		}
		if !slices.Equal(got, codes) || !slices.Equal(gotL, labels) {
			return st, fmt.Errorf("verifying %s: %w: it reads back other codes than %s holds", dst, ErrMismatch, src)
		}
		st.Verified = true
	}
	return st, nil
}

// EncodeDataset writes every image of ds as its code grid, prior-coded
// with codec, to a code file at path (written atomically; an existing file
// is kept unless overwrite is set): what `vqgen encode --prior P` does.
// It reports to prog (nil: silent) and stops when ctx is done.
func EncodeDataset(ctx context.Context, vq *vqvae.Model, ds *datasets.Dataset, path string, codec *Codec, overwrite bool, prog progress.Reporter) (err error) {
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
	prog = progress.Or(prog)
	prog.Begin(progress.Phase{Name: "encode " + filepath.Base(path), Total: ds.N, ItemsPerUnit: 1, Item: "img"})
	defer prog.End()
	// The VQ-VAE encodes a batch while the writer codes the chunks of the
	// one before, a chunk per core.
	step := 8 * imageBatch
	images := make([][]float32, 0, step)
	for lo := 0; lo < ds.N; lo += step {
		if err := ctx.Err(); err != nil {
			return err
		}
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
		prog.Update(hi)
	}
	return w.Close()
}
