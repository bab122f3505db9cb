package app

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/memguard"
	"github.com/vqgen/vqgen/internal/plots"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	"github.com/vqgen/vqgen/stage2_prior/coding"
)

// EncodeOptions configure encoding a dataset into a code file.
type EncodeOptions struct {
	VQVAE string `json:"vqvae"`
	// Data is a dataset spec (mnist:train, images:DIR:train, ...), or
	// train or test for the splits named in the VQ-VAE's own config
	// (with train_limit or test_limit applied): what `vqgen run` encodes.
	Data  string `json:"data"`
	Limit int    `json:"limit"` // keep the first Limit images (0: all)
	// Out is the code file to write (format: datasets/CODES.md).
	Out string `json:"out"`
	// Prior, a Transformer prior checkpoint trained on the VQ-VAE's
	// codes, codes the grids with its probabilities (layout "prior",
	// docs/prior-coding.md): about a third of the zstd layout's size,
	// and every reader of the file then needs the prior.
	Prior string `json:"prior"`
	Force bool   `json:"force"`
}

// Encoded describes a written code file.
type Encoded struct {
	Path          string  `json:"path"`
	Data          string  `json:"data"`
	Images        int     `json:"images"`
	Bytes         int64   `json:"bytes"`
	BytesPerImage float64 `json:"bytes_per_image"`
	RawImageBytes int     `json:"raw_image_bytes"`
	Seconds       float64 `json:"seconds"`
	Layout        string  `json:"layout"`
	// Prior describes the prior of a prior-coded file.
	Prior string `json:"prior,omitempty"`
}

// Encode runs every image of the data through the VQ-VAE's encoder and
// writes its grid of code indices, with its label when the data has one, to
// a code file that records the VQ-VAE's fingerprint, so the codes are never
// decoded by a model that did not make them.
func Encode(ctx context.Context, o EncodeOptions, prog Progress) (*Encoded, error) {
	if o.Out == "" {
		return nil, optionErr("out", `"": give the code file to write`)
	}
	if err := CheckOutputs(o.Force, o.Out); err != nil {
		return nil, err
	}
	v, err := LoadVQVAE(o.VQVAE)
	if err != nil {
		return nil, err
	}
	spec := map[string]string{"train": v.cfg.Data.Train, "test": v.cfg.Data.Test}[o.Data]
	if err := memguard.Check(memguard.Encode(v.cfg, cmp.Or(spec, o.Data))); err != nil {
		return nil, err
	}
	ds, err := v.LoadData(o.Data, o.Limit)
	if err != nil {
		return nil, err
	}
	if o.Prior != "" {
		return v.encodeCoded(ctx, ds, o.Out, o.Prior, o.Force, prog)
	}
	return v.encodeFile(ctx, ds, o.Out, o.Force, prog)
}

// encodeCoded writes ds's codes prior-coded with the prior at priorPath.
func (v *VQVAE) encodeCoded(ctx context.Context, ds *datasets.Dataset, path, priorPath string, force bool, prog Progress) (*Encoded, error) {
	codec, ck, err := coding.Load(priorPath)
	if err != nil {
		return nil, err
	}
	if err := v.checkPrior(ck); err != nil {
		return nil, err
	}
	start := time.Now()
	v.mu.Lock()
	err = coding.EncodeDataset(ctx, v.m, ds, path, codec, force, prog)
	v.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return encoded(path, ds, start, codec.Prior().String())
}

// encoded describes the code file just written at path.
func encoded(path string, ds *datasets.Dataset, start time.Time, prior string) (*Encoded, error) {
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return &Encoded{Path: path, Data: ds.Name, Images: ds.N, Bytes: f.Size(), BytesPerImage: float64(f.Size()) / float64(max(ds.N, 1)),
		RawImageBytes: ds.ImageLen(), Seconds: time.Since(start).Seconds(), Layout: f.Header().Layout.String(), Prior: prior}, nil
}

// encodeFile writes ds's codes to path.
func (v *VQVAE) encodeFile(ctx context.Context, ds *datasets.Dataset, path string, force bool, prog Progress) (*Encoded, error) {
	prog = nop(prog)
	prog.Begin(Phase{Name: "encode " + filepath.Base(path), Total: ds.N, ItemsPerUnit: 1, Item: "img"})
	start := time.Now()
	v.mu.Lock()
	err := cancellable(ctx, func(check func()) error {
		return vqvae.EncodeDataset(v.m, ds, path, force, encodeBatch, func(done, _ int) {
			check()
			prog.Update(done)
		})
	})
	v.mu.Unlock()
	prog.End()
	if err != nil {
		return nil, err
	}
	return encoded(path, ds, start, "")
}

// ReconstructOptions configure a reconstruction picture.
type ReconstructOptions struct {
	VQVAE string `json:"vqvae"`
	Data  string `json:"data"` // dataset spec, or train / test
	N     int    `json:"n"`    // images shown
	Out   string `json:"out"`  // PNG: originals above, reconstructions below
	Force bool   `json:"force"`
}

// Reconstruct passes the first N images of the data through the VQ-VAE
// (encode, decode) and writes a PNG with the originals in the top row and
// their reconstructions below.
func Reconstruct(ctx context.Context, o ReconstructOptions) error {
	if o.N <= 0 {
		return optionErr("n", "%d: want at least 1 image", o.N)
	}
	if err := CheckOutputs(o.Force, o.Out); err != nil {
		return err
	}
	v, ds, err := loadVQVAEData(o.VQVAE, o.Data, o.N)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return v.writeRecon(ds, spread(o.N, ds.N), o.Out, o.Force)
}

// DecodeOptions configure decoding entries of a code file.
type DecodeOptions struct {
	VQVAE string `json:"vqvae"` // the VQ-VAE that made the codes
	Codes string `json:"codes"` // code file
	Range string `json:"range"` // entries "A:B", half-open; either side may be empty
	Out   string `json:"out"`   // image grid PNG
	// Prior is the prior that reads a prior-coded Codes.
	Prior string `json:"prior"`
	Force bool   `json:"force"`
}

// Decoded says which entries DecodeCodes decoded.
type Decoded struct{ From, To int }

// DecodeCodes decodes entries of a code file into an image grid PNG.
func DecodeCodes(ctx context.Context, o DecodeOptions) (*Decoded, error) {
	if err := CheckOutputs(o.Force, o.Out); err != nil {
		return nil, err
	}
	v, err := LoadVQVAE(o.VQVAE)
	if err != nil {
		return nil, err
	}
	r := codeReader{path: o.Prior}
	f, err := r.open(o.Codes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := datasets.CodeFingerprint(v.m.Fingerprint())
	if got := f.Header().Fingerprint; got != want {
		return nil, fmt.Errorf("%s was made by the VQ-VAE with fingerprint %s, but this checkpoint's fingerprint is %s: decode it with the model that encoded it", f.Name(), got, want)
	}
	lo, hi, err := parseRange(o.Range, int(f.Count()))
	if err != nil {
		return nil, err
	}
	h := f.Header()
	cells := h.Cells()
	grid := make([]int32, 0, (hi-lo)*cells)
	// Only the chunks that hold the range: a prior-coded chunk takes a
	// noticeable time to decode.
	for c := lo / h.ChunkImages; c < f.NumChunks() && c*h.ChunkImages < hi; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		g, _, err := f.ReadChunk(c)
		if err != nil {
			return nil, err
		}
		n, first := f.ChunkImages(c)
		a, b := max(lo-int(first), 0), min(hi-int(first), n)
		for _, v := range g[a*cells : b*cells] {
			grid = append(grid, int32(v))
		}
	}
	ims, err := v.Decode(grid, hi-lo)
	if err != nil {
		return nil, err
	}
	s := v.Shape()
	if err := WriteGridPNG(o.Out, ims, s.Channels, s.Size, 0, o.Force); err != nil {
		return nil, err
	}
	return &Decoded{lo, hi}, nil
}

// parseRange parses "A:B" (either side may be empty) against n entries.
func parseRange(s string, n int) (int, int, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, optionErr("range", "%q: want A:B", s)
	}
	lo, hi := 0, n
	var err error
	if a != "" {
		if lo, err = strconv.Atoi(a); err != nil {
			return 0, 0, optionErr("range", "%q: %q is not an integer", s, a)
		}
	}
	if b != "" {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, optionErr("range", "%q: %q is not an integer", s, b)
		}
	}
	if lo < 0 || hi > n || lo >= hi {
		return 0, 0, optionErr("range", "%q: want 0 <= A < B <= %d (the file's entry count)", s, n)
	}
	return lo, hi, nil
}

// CodesReport describes a code file.
type CodesReport struct {
	Path            string  `json:"path"`
	Count           int64   `json:"count"`
	GridH           int     `json:"grid_h"`
	GridW           int     `json:"grid_w"`
	K               int     `json:"k"`
	Labels          bool    `json:"labels"`
	Classes         int     `json:"classes"`
	ImageH          int     `json:"image_h"`
	ImageW          int     `json:"image_w"`
	Channels        int     `json:"channels"`
	Fingerprint     string  `json:"fingerprint"`
	CodesUsed       int     `json:"codes_used"`
	EntropyBits     float64 `json:"entropy_bits_per_code"`
	FileBytes       int64   `json:"file_bytes"`
	BytesPerImage   float64 `json:"bytes_per_image"`
	RawImageBytes   int     `json:"raw_image_bytes"`
	BitPackedBytes  float64 `json:"bitpacked_bytes_per_image"`
	DiskBitsPerCode float64 `json:"disk_bits_per_code"`
	Layout          string  `json:"layout"`
	Chunks          int     `json:"chunks"`
	// Prior describes the prior of a prior-coded file: its file name,
	// fingerprint and numerics version.
	Prior string `json:"prior,omitempty"`
	// Keys says whether images carry keys (their source files, for images
	// encoded from a folder); FirstKey and LastKey are the first and last
	// in file order, AllKeys every key when InspectOptions.Keys is set.
	Keys     bool     `json:"keys"`
	FirstKey string   `json:"first_key,omitempty"`
	LastKey  string   `json:"last_key,omitempty"`
	AllKeys  []string `json:"all_keys,omitempty"`
}

// InspectOptions configure describing a code file.
type InspectOptions struct {
	Path string `json:"path"`
	// Keys lists every image's key in the report.
	Keys bool `json:"keys"`
	// Histogram, if set, is a PNG of code usage to write.
	Histogram string `json:"histogram,omitempty"`
	// Prior is the prior that reads a prior-coded file.
	Prior string `json:"prior,omitempty"`
	Force bool   `json:"force"`
}

// InspectCodes describes a code file: counts, grid, K, fingerprint, code
// usage and compression.
func InspectCodes(ctx context.Context, o InspectOptions, prog Progress) (*CodesReport, error) {
	if err := CheckOutputs(o.Force, o.Histogram); err != nil {
		return nil, err
	}
	cr := codeReader{path: o.Prior}
	f, err := cr.open(o.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	end := coding.ReportReads(ctx, f, prog)
	st, err := f.Stats()
	end()
	if err != nil {
		return nil, err
	}
	h := f.Header()
	bitsPer := 0
	for 1<<bitsPer < h.K {
		bitsPer++
	}
	r := &CodesReport{Path: o.Path, Count: h.Count, GridH: h.GridH, GridW: h.GridW, K: h.K, Labels: h.Labels, Classes: h.NumClasses,
		ImageH: h.ImageH, ImageW: h.ImageW, Channels: h.Channels,
		Fingerprint: h.Fingerprint.String(), CodesUsed: st.CodesUsed, EntropyBits: st.EntropyBits,
		FileBytes: st.FileBytes, BytesPerImage: st.BytesPerImage, RawImageBytes: h.ImageH * h.ImageW * h.Channels,
		BitPackedBytes: float64(h.GridH*h.GridW*bitsPer) / 8, DiskBitsPerCode: st.DiskBitsPerCode,
		Layout: h.Layout.String(), Chunks: f.NumChunks(), Keys: h.Keys}
	if h.Layout == datasets.CodeLayoutPrior {
		r.Prior = h.Prior.String()
	}
	if h.Keys {
		keys, err := f.Keys()
		if err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			r.FirstKey, r.LastKey = keys[0], keys[len(keys)-1]
		}
		if o.Keys {
			r.AllKeys = keys
		}
	}
	if o.Histogram != "" {
		counts := make([]float64, len(st.Usage))
		for i, c := range st.Usage {
			counts[i] = float64(c)
		}
		if err := plots.HistogramPNG(o.Histogram, fmt.Sprintf("Code usage in %s (%d of %d codes used)", filepath.Base(o.Path), st.CodesUsed, h.K),
			"code index", "occurrences", counts, plots.Options{NoOverwrite: !o.Force}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// CodeLayoutSize is the size of a code file's codes in one layout.
type CodeLayoutSize = datasets.CodeLayoutSize

// MeasureLayouts compresses a code file's codes in every zstd layout the
// format has: the measurement behind the default layout
// (datasets/CODES.md). priorPath is the prior that reads a prior-coded
// file.
func MeasureLayouts(ctx context.Context, path, priorPath string, prog Progress) ([]CodeLayoutSize, error) {
	cr := codeReader{path: priorPath}
	f, err := cr.open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	end := coding.ReportReads(ctx, f, prog)
	codes, _, err := f.LoadAll()
	end()
	if err != nil {
		return nil, err
	}
	h := f.Header()
	chunk := h.ChunkImages
	if h.Layout == datasets.CodeLayoutPrior {
		chunk = 0 // the zstd layouts' own default, not the prior-coded one's
	}
	return datasets.MeasureCodeLayouts(codes, h.K, h.GridH, h.GridW, chunk)
}
