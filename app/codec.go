package app

// Prior coding (docs/prior-coding.md): code files whose chunks are coded
// with a prior's probabilities (layout "prior"), conversion between
// layouts, and the learned image codec built on them (a VQ-VAE for the
// lossy part, the prior for lossless coding of its codes).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/atomicfile"
	prior "github.com/vqgen/vqgen/stage2_prior"
	"github.com/vqgen/vqgen/stage2_prior/coding"
)

// ErrCodeNeedsPrior: a code file is prior-coded and the prior given is
// none, or not the one it names; the error names the prior it needs (file
// name and fingerprint).
var ErrCodeNeedsPrior = datasets.ErrCodeNeedsPrior

// LayoutNames are the code file layouts an option can name: "prior"
// (coded with a prior), "zstd" (the default zstd layout) and each zstd
// layout by its own name (datasets/CODES.md).
var LayoutNames = []string{"prior", "zstd", "raw16", "packed", "planes", "planes-by-pos"}

// parseLayout maps a layout name to the layout; "zstd" is the default
// zstd layout.
func parseLayout(option, name string) (datasets.CodeLayout, error) {
	switch name {
	case "prior":
		return datasets.CodeLayoutPrior, nil
	case "zstd":
		return datasets.CodeLayoutDefault, nil
	}
	for _, l := range datasets.CodeLayouts {
		if l.String() == name {
			return l, nil
		}
	}
	return 0, optionErr(option, "%q: want one of %s", name, strings.Join(LayoutNames, ", "))
}

// codeReader opens code files of any layout, giving a prior-coded one the
// prior that reads it: the checkpoint at path, loaded on first need, or
// one the caller has loaded already.
type codeReader struct {
	path  string            // prior checkpoint ("" for none)
	ck    *prior.Checkpoint // already loaded, or nil
	codec *coding.Codec
}

// codecFor returns the codec that reads f.
func (r *codeReader) codecFor(f *datasets.CodeFile) (*coding.Codec, error) {
	if r.codec != nil {
		return r.codec, nil
	}
	if r.ck == nil {
		if r.path == "" {
			return nil, fmt.Errorf("%s: %w: it needs the prior %v", f.Name(), ErrCodeNeedsPrior, f.Header().Prior)
		}
		ck, err := prior.Load(r.path)
		if err != nil {
			return nil, err
		}
		r.ck = ck
	}
	c, err := coding.New(r.ck.Prior, r.ck.Path)
	if err != nil {
		return nil, fmt.Errorf("code file %s needs the prior %v: %w", f.Name(), f.Header().Prior, err)
	}
	r.codec = c
	return c, nil
}

// open opens a code file; a prior-coded one is given its prior.
func (r *codeReader) open(path string) (*datasets.CodeFile, error) {
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		return nil, err
	}
	if f.Header().Layout != datasets.CodeLayoutPrior {
		return f, nil
	}
	c, err := r.codecFor(f)
	if err == nil {
		err = f.SetChunkCodec(c)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// read loads a whole code file for a prior, reporting the decoding of a
// prior-coded one.
func (r *codeReader) read(ctx context.Context, path string, prog Progress) (*prior.Codes, error) {
	f, err := r.open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	end := coding.ReportReads(ctx, f, prog)
	defer end()
	return prior.ReadCodes(f)
}

// ConvertOptions configure rewriting a code file in another layout.
type ConvertOptions struct {
	In  string `json:"in"`  // code file to read
	Out string `json:"out"` // code file to write
	// Prior is the prior checkpoint that codes Out in the prior layout,
	// and reads In when In is prior-coded.
	Prior string `json:"prior"`
	// Layout is Out's layout (LayoutNames); "" picks "prior" for a zstd
	// In when Prior is given and "zstd" for a prior-coded In.
	Layout string `json:"layout"`
	// ChunkImages is Out's chunk size (0: the layout's default: 512
	// images prior-coded, 4096 otherwise).
	ChunkImages int `json:"chunk_images"`
	// Verify reads Out back and compares it with In.
	Verify bool `json:"verify"`
	Force  bool `json:"force"`
}

// Converted describes a conversion.
type Converted struct {
	In               string  `json:"in"`
	Out              string  `json:"out"`
	Images           int64   `json:"images"`
	InLayout         string  `json:"in_layout"`
	OutLayout        string  `json:"out_layout"`
	InBytes          int64   `json:"in_bytes"`
	OutBytes         int64   `json:"out_bytes"`
	InBytesPerImage  float64 `json:"in_bytes_per_image"`
	OutBytesPerImage float64 `json:"out_bytes_per_image"`
	// Prior describes the prior of the prior-coded side: "prior.safetensors
	// (fingerprint ..., numerics version 1)".
	Prior    string  `json:"prior,omitempty"`
	Verified bool    `json:"verified"`
	Seconds  float64 `json:"seconds"`
}

// Convert rewrites a code file in another layout: zstd to prior-coded
// (about a third of the size for MNIST), prior-coded back to zstd, or
// between zstd layouts; the codes and labels are the same. Out is written
// atomically.
func Convert(ctx context.Context, o ConvertOptions, prog Progress) (*Converted, error) {
	if o.In == "" {
		return nil, optionErr("in", `"": give the code file to convert`)
	}
	if o.Out == "" {
		return nil, optionErr("out", `"": give the code file to write`)
	}
	if abs(o.In) == abs(o.Out) {
		return nil, optionErr("out", "%s: the file being converted; write to another path", o.Out)
	}
	if o.ChunkImages < 0 {
		return nil, optionErr("chunk_images", "%d: want >= 1, or 0 for the layout's default", o.ChunkImages)
	}
	if err := CheckOutputs(o.Force, o.Out); err != nil {
		return nil, err
	}
	f, err := datasets.OpenCodeFile(o.In)
	if err != nil {
		return nil, err
	}
	h := f.Header()
	f.Close()
	inPrior := h.Layout == datasets.CodeLayoutPrior
	name := o.Layout
	if name == "" {
		switch {
		case inPrior:
			name = "zstd"
		case o.Prior != "":
			name = "prior"
		default:
			return nil, optionErr("layout", `"": %s is in layout %s; give a prior to prior-code it, or the layout to write`, o.In, h.Layout)
		}
	}
	layout, err := parseLayout("layout", name)
	if err != nil {
		return nil, err
	}
	if layout == datasets.CodeLayoutPrior && o.Prior == "" {
		return nil, optionErr("prior", `"": the prior layout codes with a prior: give its checkpoint (prior.safetensors)`)
	}
	r := codeReader{path: o.Prior}
	var codec *coding.Codec
	if o.Prior != "" {
		c, ck, err := coding.Load(o.Prior)
		if err != nil {
			return nil, err
		}
		if layout == datasets.CodeLayoutPrior {
			if err := coding.CheckCodes(ck, h); err != nil {
				return nil, fmt.Errorf("%s cannot code %s: %w", o.Prior, o.In, err)
			}
		}
		codec, r.codec = c, c
	}
	start := time.Now()
	st, err := coding.Convert(ctx, o.In, o.Out, coding.ConvertOptions{Layout: layout, ChunkImages: o.ChunkImages, Codec: codec,
		Overwrite: o.Force, Verify: o.Verify}, prog)
	if err != nil {
		return nil, err
	}
	c := &Converted{In: o.In, Out: o.Out, Images: st.Images, InLayout: st.SrcLayout.String(), OutLayout: st.DstLayout.String(),
		InBytes: st.SrcBytes, OutBytes: st.DstBytes, OutBytesPerImage: st.DstBytesPerImage, Verified: st.Verified,
		Seconds: time.Since(start).Seconds()}
	if st.Images > 0 {
		c.InBytesPerImage = float64(st.SrcBytes) / float64(st.Images)
	}
	switch {
	case st.DstLayout == datasets.CodeLayoutPrior:
		c.Prior = st.DstPrior.String()
	case st.SrcLayout == datasets.CodeLayoutPrior:
		c.Prior = st.SrcPrior.String()
	}
	return c, nil
}

// abs is path made absolute where possible, for comparing paths.
func abs(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// RunModels name a VQ-VAE and a prior: a run folder's (vqgen run, or
// vqgen train's folder layout) or explicit checkpoints, which take
// precedence.
type RunModels struct {
	// Run is a folder holding vqvae.safetensors and prior.safetensors.
	Run   string `json:"run"`
	VQVAE string `json:"vqvae"`
	Prior string `json:"prior"`
}

// paths resolves the two checkpoints; need describes what they are for in
// the error when none is given.
func (m RunModels) paths(need string) (vq, pr string, err error) {
	vq, pr = m.VQVAE, m.Prior
	if m.Run != "" {
		if st, err := os.Stat(m.Run); err != nil {
			return "", "", optionErr("run", "%s: %v", m.Run, err)
		} else if !st.IsDir() {
			return "", "", optionErr("run", "%s: not a folder: give the run folder holding %s and %s", m.Run, VQVAEFile, PriorFile)
		}
		for _, p := range []struct {
			path *string
			file string
		}{{&vq, VQVAEFile}, {&pr, PriorFile}} {
			if *p.path != "" {
				continue
			}
			*p.path = filepath.Join(m.Run, p.file)
			if _, err := os.Stat(*p.path); err != nil {
				return "", "", optionErr("run", "%s has no %s: give the folder of a finished run (vqgen run), or the checkpoints themselves", m.Run, p.file)
			}
		}
	}
	switch {
	case vq == "" && pr == "":
		return "", "", optionErr("run", `"": give the run folder (%s)`, need)
	case vq == "":
		return "", "", optionErr("vqvae", `"": give the VQ-VAE checkpoint, or the run folder`)
	case pr == "":
		return "", "", optionErr("prior", `"": give the prior checkpoint, or the run folder`)
	}
	return vq, pr, nil
}

// codecModels is a loaded VQ-VAE with the codec of a prior trained on its
// codes.
type codecModels struct {
	v     *VQVAE
	codec *coding.Codec
	ck    *prior.Checkpoint
}

func (m RunModels) load(need string) (*codecModels, error) {
	vq, pr, err := m.paths(need)
	if err != nil {
		return nil, err
	}
	v, err := LoadVQVAE(vq)
	if err != nil {
		return nil, err
	}
	codec, ck, err := coding.Load(pr)
	if err != nil {
		return nil, err
	}
	if err := v.checkPrior(ck); err != nil {
		return nil, err
	}
	return &codecModels{v: v, codec: codec, ck: ck}, nil
}

// CompressOptions configure compressing images with a VQ-VAE and a prior.
type CompressOptions struct {
	RunModels
	// Images are image files (PNG, JPEG), resized and centre-cropped to
	// the VQ-VAE's size; Data is a dataset spec instead (its labels are
	// stored too), Limit its first images (0: all).
	Images []string `json:"images"`
	Data   string   `json:"data"`
	Limit  int      `json:"limit"`
	Out    string   `json:"out"` // the .vqz file to write
	Force  bool     `json:"force"`
}

// Compressed describes a written .vqz file.
type Compressed struct {
	Path          string  `json:"path"`
	Images        int     `json:"images"`
	Labels        bool    `json:"labels"`
	Bytes         int64   `json:"bytes"`
	BytesPerImage float64 `json:"bytes_per_image"`
	BitsPerPixel  float64 `json:"bits_per_pixel"`
	// PSNR is the decompressed images' against the inputs at the
	// VQ-VAE's size, over 8-bit pixels.
	PSNR    float64 `json:"psnr_db"`
	Seconds float64 `json:"seconds"`
}

// Compress encodes images with the VQ-VAE (lossy) and writes their code
// grids prior-coded (lossless) to a .vqz file: a prior-coded code file
// naming both models by fingerprint, which Decompress turns back into
// images.
func Compress(ctx context.Context, o CompressOptions, prog Progress) (*Compressed, error) {
	if o.Out == "" {
		return nil, optionErr("out", `"": give the .vqz file to write`)
	}
	if err := CheckOutputs(o.Force, o.Out); err != nil {
		return nil, err
	}
	m, err := o.load("the models that compress")
	if err != nil {
		return nil, err
	}
	ims := &coding.Images{}
	switch {
	case len(o.Images) > 0 && o.Data != "":
		return nil, optionErr("images", "and data both given: give one")
	case len(o.Images) > 0:
		s := m.v.Shape()
		for _, p := range o.Images {
			px, err := datasets.ReadImage(p, s.Size, s.Channels)
			if err != nil {
				return nil, err
			}
			ims.Pixels = append(ims.Pixels, px)
			ims.Keys = append(ims.Keys, filepath.Base(p))
		}
	case o.Data != "":
		ds, err := m.v.LoadData(o.Data, o.Limit)
		if err != nil {
			return nil, err
		}
		ims.Pixels = make([][]float32, ds.N)
		for i := range ims.Pixels {
			ims.Pixels[i] = ds.Image(i)
		}
		ims.Labels, ims.Classes, ims.Keys = ds.Labels, ds.Classes, ds.Keys
	default:
		return nil, optionErr("images", "not given: give image files or a dataset spec (data)")
	}
	n := len(ims.Pixels)
	if n == 0 {
		return nil, optionErr("data", "%s: no images", o.Data)
	}
	start := time.Now()
	s := m.v.Shape()
	m.v.mu.Lock()
	grids, err := coding.CompressFile(ctx, o.Out, m.v.m, m.codec, ims, o.Force, prog)
	m.v.mu.Unlock()
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(o.Out)
	if err != nil {
		return nil, err
	}
	codes := make([]int32, len(grids))
	for i, g := range grids {
		codes[i] = int32(g)
	}
	recon, err := m.v.Decode(codes, n)
	if err != nil {
		return nil, err
	}
	psnr, err := coding.PSNR(ims.Pixels, recon, s.Channels, s.Size)
	if err != nil {
		return nil, err
	}
	return &Compressed{Path: o.Out, Images: n, Labels: ims.Labels != nil, Bytes: st.Size(), BytesPerImage: float64(st.Size()) / float64(n),
		BitsPerPixel: 8 * float64(st.Size()) / float64(n*s.Size*s.Size), PSNR: psnr, Seconds: time.Since(start).Seconds()}, nil
}

// DecompressOptions configure decompressing a .vqz file.
type DecompressOptions struct {
	RunModels
	In string `json:"in"` // the .vqz file
	// Out is the folder for the images, one PNG each, and labels.txt
	// (one label per line) when the file holds labels.
	Out   string `json:"out"`
	Force bool   `json:"force"`
}

// LabelsFile is the file Decompress writes a .vqz file's labels to.
const LabelsFile = "labels.txt"

// Decompressed describes the images written.
type Decompressed struct {
	Dir    string   `json:"dir"`
	Files  []string `json:"files"`
	Labels string   `json:"labels,omitempty"` // the labels file, if the .vqz holds labels
}

// OutputNames names the images of a decompressed folder: after the keys
// the file holds (the compressed files' names, or their paths in a
// dataset's folder), with the extension .png, when they make distinct
// file names inside the folder; otherwise image-0000.png, image-0001.png,
// ... in order (zero-padded to sort).
func OutputNames(keys []string, n int) []string {
	names := make([]string, n)
	if len(keys) == n {
		seen := map[string]bool{}
		ok := true
		for i, k := range keys {
			name := filepath.FromSlash(strings.TrimSuffix(k, filepath.Ext(k)) + ".png")
			if !filepath.IsLocal(name) || strings.ContainsRune(k, '\\') || seen[name] {
				ok = false
				break
			}
			seen[name], names[i] = true, name
		}
		if ok {
			return names
		}
	}
	digits := max(4, len(fmt.Sprint(max(n-1, 0))))
	for i := range names {
		names[i] = fmt.Sprintf("image-%0*d.png", digits, i)
	}
	return names
}

// Decompress turns a .vqz file back into images with the VQ-VAE and prior
// that compressed it.
func Decompress(ctx context.Context, o DecompressOptions, prog Progress) (*Decompressed, error) {
	if o.In == "" {
		return nil, optionErr("in", `"": give the .vqz file to decompress`)
	}
	if o.Out == "" {
		return nil, optionErr("out", `"": give the folder for the images`)
	}
	f, err := datasets.OpenCodeFile(o.In)
	if err != nil {
		return nil, err
	}
	h := f.Header()
	keys, err := f.Keys()
	f.Close()
	if err != nil {
		return nil, err
	}
	if h.Layout != datasets.CodeLayoutPrior {
		return nil, fmt.Errorf("%s is a code file in layout %s, not a compressed image file; vqgen decode turns code files into images", o.In, h.Layout)
	}
	need := fmt.Sprintf("%s needs the VQ-VAE with fingerprint %s and the prior %v", o.In, h.Fingerprint, h.Prior)
	m, err := o.load(need)
	if err != nil {
		return nil, err
	}
	n := int(h.Count)
	names := OutputNames(keys, n)
	paths := make([]string, 0, n+1)
	for _, name := range names {
		paths = append(paths, filepath.Join(o.Out, name))
	}
	if h.Labels {
		paths = append(paths, filepath.Join(o.Out, LabelsFile))
	}
	if err := CheckOutputs(o.Force, paths...); err != nil {
		return nil, err
	}
	m.v.mu.Lock()
	ims, err := coding.Decompress(ctx, o.In, m.v.m, m.codec, prog)
	m.v.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s := m.v.Shape()
	if err := writeEachNamed(o.Out, ims.Pixels, s.Channels, s.Size, o.Force, func(i int) string { return names[i] }); err != nil {
		return nil, err
	}
	d := &Decompressed{Dir: o.Out, Files: paths[:n]}
	if h.Labels {
		var b strings.Builder
		for _, l := range ims.Labels {
			fmt.Fprintln(&b, l)
		}
		d.Labels = paths[n]
		if err := atomicfile.WriteFile(d.Labels, []byte(b.String()), o.Force); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// CodecEval compares vqgen's image codec with PNG and JPEG on the same
// images (coding.CodecEval).
type CodecEval = coding.CodecEval

// EvalCodecOptions name the models and the images.
type EvalCodecOptions struct {
	RunModels
	Data  string `json:"data"`  // dataset spec, or train / test for the VQ-VAE's own splits
	Limit int    `json:"limit"` // the first Limit images only (0: all)
}

// EvalCodec measures the image codec (VQ-VAE + prior coding) on a dataset
// beside PNG and JPEG: bytes per image, bits per pixel and PSNR over 8-bit
// pixels, JPEG at the lowest quality whose PSNR reaches vqgen's, PNG and
// JPEG both as one file per image and as one mosaic of all images.
func EvalCodec(ctx context.Context, o EvalCodecOptions, prog Progress) (*CodecEval, error) {
	m, err := o.load("the models to evaluate")
	if err != nil {
		return nil, err
	}
	ds, err := m.v.LoadData(o.Data, o.Limit)
	if err != nil {
		return nil, err
	}
	ims := make([][]float32, ds.N)
	for i := range ims {
		ims[i] = ds.Image(i)
	}
	m.v.mu.Lock()
	defer m.v.mu.Unlock()
	return coding.EvalCodec(ctx, m.v.m, m.codec, ims, ds.Labels, ds.Classes, prog)
}
