package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/plots"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// Bytes per MNIST image in the raw and the gzipped IDX file, the baselines a
// code file is compared with.
const (
	mnistRawImageBytes  = 784
	mnistGzipImageBytes = 9912422.0 / 60000
)

// refuseExisting fails when path exists and overwrite is off: results are
// never silently replaced.
func refuseExisting(path string, overwrite bool) error {
	if overwrite {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists; use --force to replace it", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func init() {
	var ckpt, data, out string
	var force bool
	encode := &cobra.Command{
		Use:   "encode",
		Short: "Encode a dataset split into a compressed code file",
		Long: `encode runs every image of --data through the VQ-VAE's encoder and writes
its grid of code indices, with its label when the data has one, to a code
file (format: datasets/CODES.md). The file records the VQ-VAE's fingerprint,
so the codes are never decoded by a model that did not make them.`,
		Example: `  vqgen encode --vqvae runs/mnist/vqvae.safetensors --data mnist:train --out runs/mnist/codes-train.vqc`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, mcfg, err := vqvae.Load(ckpt)
			if err != nil {
				return err
			}
			// Labels as the VQ-VAE's run took them (data.labels).
			ds, err := datasets.Load(data, datasets.Options{Size: m.Image.ImageSize, Channels: m.Image.Channels, Labels: mcfg.Data.Labels})
			if err != nil {
				return err
			}
			if err := refuseExisting(out, force); err != nil {
				return err
			}
			return encodeWithProgress(cmd, m, ds, out, force)
		},
	}
	encode.Flags().StringVar(&ckpt, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	encode.Flags().StringVar(&data, "data", "", "images to encode: mnist:train|test, idx:DIR:train|test, images:DIR, images:DIR:train|test")
	encode.Flags().StringVar(&out, "out", "", "code file to write (e.g. codes-train.vqc)")
	encode.Flags().BoolVar(&force, "force", false, "replace an existing --out")
	for _, f := range []string{"vqvae", "data", "out"} {
		encode.MarkFlagRequired(f)
	}
	rootCmd.AddCommand(encode)

	codes := &cobra.Command{Use: "codes", Short: "Work with code files"}
	var asJSON, layouts, listKeys bool
	var hist string
	inspect := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Describe a code file: counts, grid, K, fingerprint, code usage and compression",
		Example: `  vqgen codes inspect runs/mnist/codes-train.vqc
  vqgen codes inspect runs/mnist/codes-train.vqc --json --histogram usage.png
  vqgen codes inspect runs/photos/codes-test.vqc --keys`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if layouts {
				return measureLayouts(cmd, args[0])
			}
			return inspectCodes(cmd, args[0], asJSON, hist, listKeys)
		},
	}
	inspect.Flags().BoolVar(&layouts, "layouts", false, "instead: compress the file's codes in every layout and print the sizes")
	inspect.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	inspect.Flags().StringVar(&hist, "histogram", "", "also write a PNG histogram of code usage")
	inspect.Flags().BoolVar(&listKeys, "keys", false, "also list every image's key (its source file, for images encoded from a folder), in file order")
	codes.AddCommand(inspect)
	rootCmd.AddCommand(codes)

	var dckpt, dcodes, drange, dout string
	var dforce bool
	decode := &cobra.Command{
		Use:     "decode",
		Short:   "Decode entries of a code file into an image grid",
		Example: `  vqgen decode --vqvae runs/mnist/vqvae.safetensors --codes runs/mnist/codes-test.vqc --range 0:64 --out grid.png`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, _, err := vqvae.Load(dckpt)
			if err != nil {
				return err
			}
			f, err := datasets.OpenCodeFile(dcodes)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := checkCodesMatch(f, m); err != nil {
				return err
			}
			lo, hi, err := parseRange(drange, int(f.Count()))
			if err != nil {
				return err
			}
			if err := refuseExisting(dout, dforce); err != nil {
				return err
			}
			hdr := f.Header()
			cells := hdr.Cells()
			grid := make([]int32, 0, (hi-lo)*cells)
			err = f.Iterate(func(i int64, g []uint16, _ int32) error {
				if int(i) >= lo && int(i) < hi {
					for _, c := range g {
						grid = append(grid, int32(c))
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			img, err := m.Decode(grid, hi-lo)
			if err != nil {
				return err
			}
			if err := datasets.WriteTensorGridPNG(dout, img, gridCols(hi-lo)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "decoded entries %d:%d of %s into %s\n", lo, hi, dcodes, dout)
			return nil
		},
	}
	decode.Flags().StringVar(&dckpt, "vqvae", "", "VQ-VAE checkpoint that made the codes")
	decode.Flags().StringVar(&dcodes, "codes", "", "code file")
	decode.Flags().StringVar(&drange, "range", "0:64", "entries A:B to decode (half-open)")
	decode.Flags().StringVar(&dout, "out", "grid.png", "output PNG")
	decode.Flags().BoolVar(&dforce, "force", false, "replace an existing --out")
	decode.MarkFlagRequired("vqvae")
	decode.MarkFlagRequired("codes")
	rootCmd.AddCommand(decode)
}

// gridCols picks a near-square layout for n tiles.
func gridCols(n int) int {
	c := 1
	for c*c < n {
		c++
	}
	return c
}

// checkCodesMatch refuses a code file made by another VQ-VAE.
func checkCodesMatch(f *datasets.CodeFile, m *vqvae.Model) error {
	want := datasets.CodeFingerprint(m.Fingerprint())
	if got := f.Header().Fingerprint; got != want {
		return fmt.Errorf("%s was made by the VQ-VAE with fingerprint %s, but this checkpoint's fingerprint is %s: decode it with the model that encoded it", f.Name(), got, want)
	}
	return nil
}

// parseRange parses "A:B" (either side may be empty) against n entries.
func parseRange(s string, n int) (int, int, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("--range %q: want A:B", s)
	}
	lo, hi := 0, n
	var err error
	if a != "" {
		if lo, err = strconv.Atoi(a); err != nil {
			return 0, 0, fmt.Errorf("--range %q: %q is not an integer", s, a)
		}
	}
	if b != "" {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("--range %q: %q is not an integer", s, b)
		}
	}
	if lo < 0 || hi > n || lo >= hi {
		return 0, 0, fmt.Errorf("--range %q: want 0 <= A < B <= %d (the file's entry count)", s, n)
	}
	return lo, hi, nil
}

func encodeWithProgress(cmd *cobra.Command, m *vqvae.Model, ds *datasets.Dataset, out string, overwrite bool) error {
	bar := newProgress(cmd.ErrOrStderr(), "encode "+filepath.Base(out), ds.N)
	bar.setRate(1, "img")
	bar.startAt(0) // counted in images, 500 per update
	start := time.Now()
	err := vqvae.EncodeDataset(m, ds, out, overwrite, 500, func(done, _ int) { bar.Update(done) })
	bar.Done()
	if err != nil {
		return err
	}
	el := time.Since(start)
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "encoded %d images of %s in %.1fs (%.0f images/s): %s, %d bytes (%.1f bytes/image)\n",
		ds.N, ds.Name, el.Seconds(), float64(ds.N)/el.Seconds(), out, st.Size(), float64(st.Size())/float64(ds.N))
	return nil
}

// codesReport is the JSON of `codes inspect`.
type codesReport struct {
	Count           int64   `json:"count"`
	GridH           int     `json:"grid_h"`
	GridW           int     `json:"grid_w"`
	K               int     `json:"k"`
	Labels          bool    `json:"labels"`
	Classes         int     `json:"classes"`
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
	// Keys: whether images carry keys; the first and last key, and with
	// --keys every key in file order.
	Keys     bool     `json:"keys"`
	FirstKey string   `json:"first_key,omitempty"`
	LastKey  string   `json:"last_key,omitempty"`
	AllKeys  []string `json:"all_keys,omitempty"`
}

func inspectCodes(cmd *cobra.Command, path string, asJSON bool, hist string, listKeys bool) error {
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stats()
	if err != nil {
		return err
	}
	h := f.Header()
	bitsPer := 0
	for 1<<bitsPer < h.K {
		bitsPer++
	}
	r := codesReport{Count: h.Count, GridH: h.GridH, GridW: h.GridW, K: h.K, Labels: h.Labels, Classes: h.NumClasses,
		Fingerprint: h.Fingerprint.String(), CodesUsed: st.CodesUsed, EntropyBits: st.EntropyBits,
		FileBytes: st.FileBytes, BytesPerImage: st.BytesPerImage, RawImageBytes: h.ImageH * h.ImageW * h.Channels,
		BitPackedBytes: float64(h.GridH*h.GridW*bitsPer) / 8, DiskBitsPerCode: st.DiskBitsPerCode,
		Layout: h.Layout.String(), Chunks: f.NumChunks(), Keys: h.Keys}
	var keys []string
	if h.Keys {
		if keys, err = f.Keys(); err != nil {
			return err
		}
		if len(keys) > 0 {
			r.FirstKey, r.LastKey = keys[0], keys[len(keys)-1]
		}
		if listKeys {
			r.AllKeys = keys
		}
	}
	if hist != "" {
		counts := make([]float64, len(st.Usage))
		for i, c := range st.Usage {
			counts[i] = float64(c)
		}
		if err := plots.HistogramPNG(hist, fmt.Sprintf("Code usage in %s (%d of %d codes used)", filepath.Base(path), st.CodesUsed, h.K),
			"code index", "occurrences", counts, plots.Options{}); err != nil {
			return err
		}
	}
	if asJSON {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s (%d bytes, %d chunks, layout %s)\n", path, r.FileBytes, r.Chunks, r.Layout)
	fmt.Fprintf(tw, "images\t%d, grid %dx%d, K=%d\n", r.Count, r.GridH, r.GridW, r.K)
	if r.Labels {
		fmt.Fprintf(tw, "labels\t%d classes\n", r.Classes)
	} else {
		fmt.Fprintf(tw, "labels\tnone\n")
	}
	switch {
	case !r.Keys:
		fmt.Fprintf(tw, "keys\tnone\n")
	case r.Count == 0:
		fmt.Fprintf(tw, "keys\tyes (no images)\n")
	default:
		fmt.Fprintf(tw, "keys\t%q ... %q (--keys lists them all)\n", r.FirstKey, r.LastKey)
	}
	fmt.Fprintf(tw, "image\t%dx%dx%d\n", h.ImageH, h.ImageW, h.Channels)
	fmt.Fprintf(tw, "fingerprint\t%s\n", r.Fingerprint)
	fmt.Fprintf(tw, "codes used\t%d of %d\n", r.CodesUsed, r.K)
	fmt.Fprintf(tw, "entropy\t%.3f bits/code (on disk: %.3f bits/code)\n", r.EntropyBits, r.DiskBitsPerCode)
	fmt.Fprintf(tw, "bytes per image\t%.2f on disk; %.1f bit-packed; %d raw pixels", r.BytesPerImage, r.BitPackedBytes, r.RawImageBytes)
	if r.RawImageBytes == mnistRawImageBytes {
		fmt.Fprintf(tw, "; %.1f in MNIST's gzipped IDX (%.1fx smaller)", mnistGzipImageBytes, mnistGzipImageBytes/r.BytesPerImage)
	}
	fmt.Fprintf(tw, "\ncompression\t%.1fx against raw pixels\n", float64(r.RawImageBytes)/r.BytesPerImage)
	if hist != "" {
		fmt.Fprintf(tw, "histogram\t%s\n", hist)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if listKeys && r.Keys {
		w := cmd.OutOrStdout()
		fmt.Fprintln(w, "\nINDEX\tKEY")
		for i, k := range keys {
			fmt.Fprintf(w, "%d\t%s\n", i, k)
		}
	}
	return nil
}

// measureLayouts compresses a file's codes in every layout the format has,
// the measurement behind the default layout (datasets/CODES.md).
func measureLayouts(cmd *cobra.Command, path string) error {
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	codes, _, err := f.LoadAll()
	if err != nil {
		return err
	}
	h := f.Header()
	sizes, err := datasets.MeasureCodeLayouts(codes, h.K, h.GridH, h.GridW, h.ChunkImages)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "LAYOUT\tBYTES\tBYTES/IMAGE\tBITS/CODE\n")
	for _, s := range sizes {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.3f\n", s.Layout, s.Bytes, s.BytesPerImage, s.BitsPerCode)
	}
	return tw.Flush()
}
