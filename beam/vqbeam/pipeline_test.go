package vqbeam

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/datasets"
)

// loadCodes reads a whole code file.
func loadCodes(t *testing.T, path string) (datasets.CodeHeader, []uint16, []int32) {
	h, codes, labels, _ := loadKeyedCodes(t, path)
	return h, codes, labels
}

// loadKeyedCodes reads a whole code file with its keys (nil without).
func loadKeyedCodes(t *testing.T, path string) (datasets.CodeHeader, []uint16, []int32, []string) {
	t.Helper()
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	codes, labels, err := f.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if f.Header().Keys {
		if keys, err = f.Keys(); err != nil {
			t.Fatal(err)
		}
	}
	return f.Header(), codes, labels, keys
}

// sameCodes fails unless two code files hold the same images: header
// fields, indices, labels and keys.
func sameCodes(t *testing.T, got, want string) {
	t.Helper()
	gh, gc, gl, gk := loadKeyedCodes(t, got)
	wh, wc, wl, wk := loadKeyedCodes(t, want)
	if !slices.Equal(gk, wk) {
		t.Errorf("%s: keys differ from %s's", got, want)
	}
	gh.ChunkImages, wh.ChunkImages = 0, 0 // storage only
	if gh != wh {
		t.Errorf("%s header %+v, want %+v (%s)", got, gh, wh, want)
	}
	if !slices.Equal(gc, wc) {
		diff := 0
		for i := range min(len(gc), len(wc)) {
			if gc[i] != wc[i] {
				diff++
			}
		}
		t.Errorf("%s: %d codes, %d differ from %s's %d", got, len(gc), diff, want, len(wc))
	}
	if !slices.Equal(gl, wl) {
		t.Errorf("%s: labels differ from %s's", got, want)
	}
}

func TestEncodeShardsMergeToVqgenEncode(t *testing.T) {
	f := getFixture(t)
	// The whole folder (images:DIR, 2,000 images) and one split.
	for _, split := range []string{"", "test"} {
		t.Run("split="+split, func(t *testing.T) {
			dir := t.TempDir()
			ref := filepath.Join(dir, "ref.vqc")
			im := Images{Dir: f.images, Split: split}
			f.run(t, "encode", "--vqvae", f.vqvae, "--data", im.String(), "--out", ref)
			const shards = 5
			out := filepath.Join(dir, "codes.vqc")
			opt := EncodeOptions{Images: im, VQVAE: f.vqvae, Out: out, Shards: shards, Batch: 128}
			sum, err := runPipeline(t, opt.Outputs(), func(ctx context.Context, s beam.Scope) (beam.PCollection, error) {
				return Encode(ctx, s, opt)
			})
			if err != nil {
				t.Fatal(err)
			}
			refHdr, _, _ := loadCodes(t, ref)
			if sum.Images != refHdr.Count || sum.Files != shards {
				t.Errorf("pipeline counted %d images in %d files, want %d in %d", sum.Images, sum.Files, refHdr.Count, shards)
			}
			var total int64
			for _, p := range opt.Outputs() {
				h, _, _ := loadCodes(t, p)
				if h.Count < refHdr.Count/shards || h.Count > refHdr.Count/shards+1 {
					t.Errorf("%s holds %d images; %d shards of %d should hold %d or %d", p, h.Count, shards, refHdr.Count, refHdr.Count/shards, refHdr.Count/shards+1)
				}
				total += h.Count
			}
			// vqgen codes merge orders by key, so the shards' order on
			// its command line does not matter.
			merged := filepath.Join(dir, "merged.vqc")
			outs := opt.Outputs()
			slices.Reverse(outs)
			f.run(t, append(append([]string{"codes", "merge"}, outs...), "--out", merged)...)
			sameCodes(t, merged, ref)
			if h, _, _ := loadCodes(t, merged); !h.Keys || !h.Labels {
				t.Errorf("merged header %+v: want keys and labels", h)
			}
		})
	}
}

func TestEncodeRefusesExistingOutputsAndBadImages(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "codes.vqc")
	opt := EncodeOptions{Images: Images{Dir: f.images, Split: "test"}, VQVAE: f.vqvae, Out: out, Shards: 2}
	if err := os.WriteFile(ShardName(out, 1, 2), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runPipeline(t, opt.Outputs(), func(ctx context.Context, s beam.Scope) (beam.PCollection, error) { return Encode(ctx, s, opt) })
	if err == nil || !strings.Contains(err.Error(), "codes-00001-of-00002.vqc already exists") {
		t.Errorf("existing shard: error %v, want a refusal naming it", err)
	}
	if b, _ := os.ReadFile(ShardName(out, 1, 2)); string(b) != "precious" {
		t.Errorf("a refused encode changed an existing shard")
	}

	// One broken file among good ones fails the pipeline with its name.
	bad := filepath.Join(dir, "bad")
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(bad, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img, _ := os.ReadFile(filepath.Join(f.images, "3", "00007.png"))
	os.WriteFile(filepath.Join(bad, "a", "good.png"), img, 0o644)
	os.WriteFile(filepath.Join(bad, "b", "broken.png"), img[:len(img)/2], 0o644)
	opt = EncodeOptions{Images: Images{Dir: bad}, VQVAE: f.vqvae, Out: filepath.Join(dir, "bad.vqc"), Shards: 1}
	_, err = runPipeline(t, opt.Outputs(), func(ctx context.Context, s beam.Scope) (beam.PCollection, error) { return Encode(ctx, s, opt) })
	want := filepath.Join(bad, "b", "broken.png") + ": cannot decode png image"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("broken image: error %v, want one starting %q", err, want)
	}
	if _, err := os.Stat(opt.Out); err == nil {
		t.Errorf("a failed encode left %s", opt.Out)
	}
}

func TestSampleShardingsGiveVqgenSample(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	const n = 37
	ref, refPNG := filepath.Join(dir, "ref.vqc"), filepath.Join(dir, "ref-png")
	f.run(t, "sample", "--vqvae", f.vqvae, "--prior", f.prior, "--n", fmt.Sprint(n), "--seed", "5", "--temperature", "0.9",
		"--out", filepath.Join(dir, "grid.png"), "--codes", ref, "--save-each", refPNG)
	for _, shards := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			sub := filepath.Join(dir, fmt.Sprint(shards))
			so, err := SampleDefaults(context.Background(), f.vqvae, f.prior)
			if err != nil {
				t.Fatal(err)
			}
			so.N, so.Seed, so.Temperature, so.Batch = n, 5, 0.9, 4
			opt := SampleOptions{VQVAE: f.vqvae, Prior: f.prior, Sample: so,
				Out: filepath.Join(sub, "samples.vqc"), Shards: shards, PNGDir: filepath.Join(sub, "png")}
			sum, err := runPipeline(t, opt.Outputs(), func(ctx context.Context, s beam.Scope) (beam.PCollection, error) { return Sample(ctx, s, opt) })
			if err != nil {
				t.Fatal(err)
			}
			if sum.Images != n || sum.Files != int64(shards) {
				t.Errorf("pipeline counted %d samples in %d files, want %d in %d", sum.Images, sum.Files, n, shards)
			}
			merged := filepath.Join(sub, "merged.vqc")
			if _, err := datasets.MergeCodeFiles(merged, opt.Outputs(), datasets.CodeMergeOptions{}); err != nil {
				t.Fatal(err)
			}
			sameCodes(t, merged, ref)
			for i := range n {
				got, err := os.ReadFile(filepath.Join(opt.PNGDir, app.EachName(i)))
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join(refPNG, app.EachName(i)))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s differs from vqgen sample's", app.EachName(i))
				}
			}
		})
	}
}

func TestScoreEqualsVqgenScore(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	data := "images:" + f.images + ":test"
	// vqgen score prints a table: a header, then image index and bits with
	// one decimal, in the folder's order.
	var ref []string
	for _, line := range strings.Split(strings.TrimSpace(f.run(t, "score", "--vqvae", f.vqvae, "--prior", f.prior, "--data", data)), "\n")[1:] {
		fields := strings.Fields(line)
		ref = append(ref, fields[len(fields)-1])
	}
	im, _ := ParseImages(data)
	opt := ScoreOptions{Images: im, VQVAE: f.vqvae, Prior: f.prior, Class: -1, Out: filepath.Join(dir, "scores.jsonl"), Shards: 3, Batch: 50}
	if _, err := runPipeline(t, opt.Outputs(), func(ctx context.Context, s beam.Scope) (beam.PCollection, error) { return Score(ctx, s, opt) }); err != nil {
		t.Fatal(err)
	}
	var lines []ScoreLine
	for _, p := range opt.Outputs() {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var l ScoreLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			lines = append(lines, l)
		}
		fh.Close()
	}
	if len(lines) != len(ref) {
		t.Fatalf("%d scores, vqgen score printed %d", len(lines), len(ref))
	}
	// The bits in full: what vqgen score computes (app.Models.ScoreImages
	// over the whole split), against the pipeline's batches of 50.
	m, err := app.LoadModels(f.vqvae, f.prior)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := m.ScoreImages(context.Background(), app.ScoreOptions{Source: app.ImageSource{Data: data}, Class: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := sc.Bits
	for i, l := range lines {
		if l.Bits != want[i] {
			t.Errorf("image %d (%s): %v bits, vqgen's computation gives %v", i, l.Image, l.Bits, want[i])
		}
		if got := strconv.FormatFloat(l.Bits, 'f', 1, 64); got != ref[i] {
			t.Errorf("image %d (%s): %s bits, vqgen score %s", i, l.Image, got, ref[i])
		}
		if l.Label == nil || fmt.Sprint(*l.Label) != strings.Split(l.Image, "/")[0] {
			t.Errorf("image %s has label %v, want its class folder", l.Image, l.Label)
		}
		if i > 0 && lines[i-1].Image >= l.Image {
			t.Errorf("scores out of key order: %s after %s", l.Image, lines[i-1].Image)
		}
	}
}
