package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/datasets"
)

// needsPrior checks err is the refusal to read a prior-coded file without
// its prior: it names the prior's file and fingerprint and the flag.
func needsPrior(t *testing.T, what string, err error, fingerprint, flag string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one naming the prior", what)
		return
	}
	for _, w := range []string{"prior.safetensors", fingerprint, flag} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not say %q", what, err, w)
		}
	}
}

// stdoutOf runs the command line and returns its standard output alone
// (the progress lines go to standard error).
func stdoutOf(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(args)
	if cmd, err := root.ExecuteContextC(context.Background()); err != nil {
		t.Fatalf("vqgen %s: %v\n%s", strings.Join(args, " "), explain(cmd, err), stderr.String())
	}
	return stdout.String()
}

// jsonOut decodes the JSON object a command prints.
func jsonOut(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := stdoutOf(t, args...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("vqgen %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return m
}

// TestPriorCodedFiles: encode --prior and codes convert write the same
// prior-coded file, convert turns it back into the zstd file stage one
// wrote, and every verb that reads code files reads it given --prior (and
// reads the same codes), or says which prior it needs.
func TestPriorCodedFiles(t *testing.T) {
	run, _ := sharedRun(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	vq, pr := filepath.Join(run, "vqvae.safetensors"), filepath.Join(run, "prior.safetensors")
	zTest, zTrain := filepath.Join(run, "codes-test.vqc"), filepath.Join(run, "codes-train.vqc")

	out := mustVqgen(t, "encode", "--vqvae", vq, "--prior", pr, "--data", "test", "--out", p("test.vqc"))
	if !strings.Contains(out, "prior-coded with prior.safetensors") {
		t.Errorf("encode --prior says %q", out)
	}
	_, _, h := readCodes(t, zTest)
	f, err := datasets.OpenCodeFile(p("test.vqc"))
	if err != nil {
		t.Fatal(err)
	}
	ph := f.Header()
	f.Close()
	fp := ph.Prior.FingerprintString()
	if ph.Layout != datasets.CodeLayoutPrior || ph.Prior.Name != "prior.safetensors" || ph.Count != h.Count {
		t.Fatalf("encode --prior wrote %+v", ph)
	}

	// convert: zstd -> prior is what encode --prior wrote, and back is
	// stage one's file, byte for byte.
	conv := jsonOut(t, "codes", "convert", zTest, "--prior", pr, "--out", p("conv.vqc"), "--verify", "--json")
	if conv["out_layout"] != "prior" || conv["in_layout"] != "raw16" || conv["verified"] != true || conv["images"] != float64(h.Count) ||
		!strings.Contains(fmt.Sprint(conv["prior"]), fp) {
		t.Errorf("convert --json: %v", conv)
	}
	if !sameFile(t, p("test.vqc"), p("conv.vqc")) {
		t.Error("codes convert --prior and encode --prior wrote different files")
	}
	_, err = vqgen(t, "codes", "convert", p("test.vqc"), "--out", p("back.vqc"))
	needsPrior(t, "convert without --prior", err, fp, "--prior")
	out = mustVqgen(t, "codes", "convert", p("test.vqc"), "--prior", pr, "--out", p("back.vqc"))
	if !strings.Contains(out, "-> "+p("back.vqc")+" (raw16") {
		t.Errorf("convert back says %q", out)
	}
	if !sameFile(t, zTest, p("back.vqc")) {
		t.Error("converting back did not give stage one's code file")
	}
	if _, err := vqgen(t, "codes", "convert", zTest, "--prior", pr, "--out", p("conv.vqc")); err == nil || !strings.Contains(err.Error(), "use --force to replace it") {
		t.Errorf("convert onto an existing file: %v", err)
	}
	if _, err := vqgen(t, "codes", "convert", zTest, "--out", p("x.vqc")); err == nil || !strings.Contains(err.Error(), "--layout") {
		t.Errorf("convert with nothing to do: %v, want it to ask for --layout or --prior", err)
	}
	if _, err := vqgen(t, "codes", "convert", zTest, "--layout", "prior", "--out", p("x.vqc")); err == nil || !strings.Contains(err.Error(), "--prior") {
		t.Errorf("--layout prior without --prior: %v", err)
	}
	if _, err := vqgen(t, "codes", "convert", zTest, "--layout", "gzip", "--out", p("x.vqc")); err == nil || !strings.Contains(err.Error(), `--layout "gzip"`) {
		t.Errorf("--layout gzip: %v", err)
	}

	// codes inspect: the same statistics, and the prior named.
	_, err = vqgen(t, "codes", "inspect", p("test.vqc"))
	needsPrior(t, "inspect without --prior", err, fp, "--prior")
	zi := jsonOut(t, "codes", "inspect", zTest, "--json")
	pi := jsonOut(t, "codes", "inspect", p("test.vqc"), "--prior", pr, "--json")
	for _, k := range []string{"count", "codes_used", "entropy_bits_per_code", "fingerprint", "labels", "classes"} {
		if zi[k] != pi[k] {
			t.Errorf("inspect %s: %v prior-coded, %v zstd", k, pi[k], zi[k])
		}
	}
	if pi["layout"] != "prior" || !strings.Contains(fmt.Sprint(pi["prior"]), fp) || zi["prior"] != nil {
		t.Errorf("inspect: layout %v prior %v (zstd file: prior %v)", pi["layout"], pi["prior"], zi["prior"])
	}
	if a, b := stdoutOf(t, "codes", "inspect", zTest, "--layouts"), stdoutOf(t, "codes", "inspect", p("test.vqc"), "--prior", pr, "--layouts"); a != b {
		t.Errorf("inspect --layouts differs:\n%s\n%s", a, b)
	}

	// decode: the same picture.
	_, err = vqgen(t, "decode", "--vqvae", vq, "--codes", p("test.vqc"), "--out", p("a.png"))
	needsPrior(t, "decode without --prior", err, fp, "--prior")
	mustVqgen(t, "decode", "--vqvae", vq, "--codes", zTest, "--range", "3:40", "--out", p("z.png"))
	mustVqgen(t, "decode", "--vqvae", vq, "--prior", pr, "--codes", p("test.vqc"), "--range", "3:40", "--out", p("a.png"))
	if !sameFile(t, p("z.png"), p("a.png")) {
		t.Error("decode of the prior-coded file differs from the zstd file's")
	}

	// eval prior: the same NLL; the prior under evaluation reads the file.
	ze := jsonOut(t, "eval", "prior", "--prior", pr, "--codes", zTest, "--json")
	pe := jsonOut(t, "eval", "prior", "--prior", pr, "--codes", p("test.vqc"), "--json")
	if ze["bits_per_image"] != pe["bits_per_image"] || ze["unigram_bits_per_image"] != pe["unigram_bits_per_image"] {
		t.Errorf("eval prior: %v on the prior-coded file, %v on zstd", pe, ze)
	}

	// train prior from prior-coded codes: the same model as from zstd.
	mustVqgen(t, "codes", "convert", zTrain, "--prior", pr, "--out", p("train.vqc"))
	_, err = vqgen(t, "train", "prior", "--config", "tiny", "--codes", p("train.vqc"), "--steps", "6", "--out", p("pz"))
	needsPrior(t, "train prior without --prior", err, fp, "--prior")
	mustVqgen(t, "train", "prior", "--config", "tiny", "--codes", zTrain, "--steps", "6", "--out", p("pz"))
	mustVqgen(t, "train", "prior", "--config", "tiny", "--codes", p("train.vqc"), "--prior", pr, "--steps", "6", "--out", p("pp"))
	other := p("pp/prior.safetensors")
	if diff := sameTensors(t, p("pz/prior.safetensors"), other); diff != "" {
		t.Errorf("training from the prior-coded codes gave another tensor %s", diff)
	}

	// Another prior than the file's: refused, naming the one it needs.
	_, err = vqgen(t, "codes", "inspect", p("test.vqc"), "--prior", other)
	needsPrior(t, "inspect with another prior", err, fp, "--prior")
	_, err = vqgen(t, "eval", "prior", "--prior", other, "--codes", p("test.vqc"))
	needsPrior(t, "eval prior of another prior", err, fp, "--codes-prior")
	// Its training codes are prior-coded too, read with the same prior.
	mustVqgen(t, "eval", "prior", "--prior", other, "--codes", p("test.vqc"), "--codes-prior", pr)
}

// TestCompressDecompress: compress writes a .vqz file of image files or a
// dataset, decompress writes the images back (and the labels), and both
// say which models they need.
func TestCompressDecompress(t *testing.T) {
	run, _ := sharedRun(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }

	// A dataset with labels.
	c := jsonOut(t, "compress", "--run", run, "--data", "test", "--limit", "37", "--out", p("t.vqz"), "--json")
	if c["images"] != 37.0 || c["labels"] != true || c["bytes"].(float64) <= 0 || c["bits_per_pixel"].(float64) <= 0 {
		t.Fatalf("compress --json: %v", c)
	}
	if ps, ok := c["psnr_db"].(float64); !ok || ps < 5 || ps > 60 {
		t.Errorf("psnr_db = %v", c["psnr_db"])
	}
	if _, err := vqgen(t, "compress", "--run", run, "--data", "test", "--limit", "37", "--out", p("t.vqz")); err == nil || !strings.Contains(err.Error(), "use --force to replace it") {
		t.Errorf("compress onto an existing file: %v", err)
	}
	out := mustVqgen(t, "decompress", p("t.vqz"), "--run", run, "--out", p("t"))
	if !strings.Contains(out, "decompressed 37 images") || !strings.Contains(out, "labels.txt") {
		t.Errorf("decompress says %q", out)
	}
	_, labels, _ := readCodes(t, filepath.Join(run, "codes-test.vqc"))
	b, err := os.ReadFile(p("t/labels.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var got []int32
	for _, l := range strings.Fields(string(b)) {
		v, _ := strconv.Atoi(l)
		got = append(got, int32(v))
	}
	if !slices.Equal(got, labels[:37]) {
		t.Errorf("labels.txt %v, want the test labels %v", got, labels[:37])
	}
	names, _ := filepath.Glob(p("t/image-*.png"))
	if len(names) != 37 || filepath.Base(names[0]) != "image-0000.png" || filepath.Base(names[36]) != "image-0036.png" {
		t.Fatalf("decompressed files %v", names)
	}
	if _, err := vqgen(t, "decompress", p("t.vqz"), "--run", run, "--out", p("t")); err == nil || !strings.Contains(err.Error(), "use --force to replace it") {
		t.Errorf("decompress onto existing images: %v", err)
	}

	// Image files, without labels: the first test images as PNG files
	// compress to the grids --data gave them, so they decompress to the
	// same images.
	ds, err := datasets.Load("mnist:test", datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := range 3 {
		var buf bytes.Buffer
		if err := datasets.EncodePNG(&buf, ds.Image(i), 1, 28, 28); err != nil {
			t.Fatal(err)
		}
		files = append(files, p(fmt.Sprintf("digit%d.png", i)))
		if err := os.WriteFile(files[i], buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustVqgen(t, append([]string{"compress", "--run", run, "--out", p("f.vqz")}, files...)...)
	mustVqgen(t, "decompress", p("f.vqz"), "--run", run, "--out", p("f"))
	for i := range files {
		// The file keeps the images' names, and decompress uses them.
		if name := fmt.Sprintf("digit%d.png", i); !sameFile(t, p(fmt.Sprintf("t/image-%04d.png", i)), p("f/"+name)) {
			t.Errorf("%s: decompressed from the image file, it differs from the --data image", name)
		}
	}
	if _, err := os.Stat(p("f/labels.txt")); !os.IsNotExist(err) {
		t.Errorf("image files have no labels, yet labels.txt: %v", err)
	}

	// The models: the run folder's, or none, or another prior.
	_, err = vqgen(t, "decompress", p("f.vqz"), "--out", p("g"))
	if err == nil || !strings.Contains(err.Error(), "--run") || !strings.Contains(err.Error(), "prior.safetensors (fingerprint") {
		t.Errorf("decompress without models: %v", err)
	}
	mustVqgen(t, "train", "prior", "--config", "tiny", "--codes", filepath.Join(run, "codes-train.vqc"), "--steps", "6", "--out", p("p2"))
	_, err = vqgen(t, "decompress", p("f.vqz"), "--run", run, "--prior", p("p2/prior.safetensors"), "--out", p("g"))
	if err == nil || !strings.Contains(err.Error(), "it needs prior.safetensors (fingerprint") || !strings.Contains(err.Error(), "--run") {
		t.Errorf("decompress with another prior: %v", err)
	}
	if _, err := vqgen(t, "compress", "--run", dir, "--out", p("h.vqz"), files[0]); err == nil || !strings.Contains(err.Error(), "--run") ||
		!strings.Contains(err.Error(), "vqvae.safetensors") {
		t.Errorf("compress with a folder that is no run: %v", err)
	}
	if _, err := vqgen(t, "compress", "--run", run, "--out", p("h.vqz")); err == nil || !strings.Contains(err.Error(), "image files") || !strings.Contains(err.Error(), "--data") {
		t.Errorf("compress without images: %v", err)
	}
}

// TestEvalCodec: the table has vqgen, PNG and JPEG at equal PSNR, in text
// and JSON.
func TestEvalCodec(t *testing.T) {
	run, _ := sharedRun(t)
	e := jsonOut(t, "eval", "codec", "--run", run, "--data", "test", "--limit", "40", "--json")
	rows, _ := e["codecs"].([]any)
	if e["images"] != 40.0 || e["pixels_per_image"] != 784.0 || len(rows) != 5 {
		t.Fatalf("eval codec --json: %v", e)
	}
	vq := rows[0].(map[string]any)
	if vq["codec"] != "vqgen" || vq["lossless"] != false || vq["bits_per_pixel"].(float64) <= 0 {
		t.Fatalf("vqgen row %v", vq)
	}
	for _, r := range rows[1:] {
		r := r.(map[string]any)
		name := r["codec"].(string)
		switch {
		case strings.HasPrefix(name, "png"):
			if r["lossless"] != true || r["psnr_db"] != nil {
				t.Errorf("png row %v", r)
			}
		case strings.HasPrefix(name, "jpeg"):
			q, _ := r["quality"].(float64)
			if ps, _ := r["psnr_db"].(float64); q < 1 || q > 100 || (ps < vq["psnr_db"].(float64) && q < 100) {
				t.Errorf("jpeg row %v does not reach vqgen's PSNR %v", r, vq["psnr_db"])
			}
		default:
			t.Errorf("row %v", r)
		}
	}
	out := mustVqgen(t, "eval", "codec", "--run", run, "--limit", "40")
	for _, w := range []string{"BITS/PIXEL", "PSNR (dB)", "vqgen", "png (one file per image)", "lossless", "jpeg (one mosaic), quality"} {
		if !strings.Contains(out, w) {
			t.Errorf("eval codec text lacks %q:\n%s", w, out)
		}
	}
}
