package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
)

// vqgen run on an unlabelled folder with prior.conditional = true stops
// before anything is trained or written, naming both keys.
func TestRunRefusesConditionalPriorOnUnlabelledFolder(t *testing.T) {
	base := t.TempDir()
	photos := filepath.Join(base, "photos")
	os.MkdirAll(photos, 0o755)
	for i := range 30 {
		img := image.NewNRGBA(image.Rect(0, 0, 10, 8))
		for j := range img.Pix {
			img.Pix[j] = uint8(i + j)
		}
		f, err := os.Create(filepath.Join(photos, fmt.Sprintf("p%02d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
	}
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = configs.Data{Train: "images:" + photos, Test: "images:" + photos, ValCount: 5, ImageSize: 8, Channels: 3, Labels: "none"}
	cfg.VQVAE.Train.Batch, cfg.VQVAE.Train.EvalImages, cfg.Prior.ValCount = 8, 5, 5
	cfg.Prior.Conditional = configs.SwitchOn
	b, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(base, "photos.toml")
	os.WriteFile(conf, b, 0o644)
	out := filepath.Join(base, "run")
	msg, err := vqgen(t, "run", "--config", conf, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "prior.conditional = true") || !strings.Contains(err.Error(), "data.train = images:"+photos+" has no labels") {
		t.Fatalf("vqgen run: %v\n%s", err, msg)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the refused run left a folder behind")
	}
}

// codes inspect shows the first and last key, and --keys lists them all.
func TestInspectShowsKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.vqc")
	w, err := datasets.CreateCodeFile(path, datasets.CodeHeader{GridH: 2, GridW: 2, K: 8, ImageH: 8, ImageW: 8, Channels: 3, Keys: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"2024/a.jpg", "2024/b.jpg", "2025/c.jpg"} {
		if err := w.WriteKeyed([]uint16{uint16(i), 1, 2, 3}, datasets.CodeNoLabel, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out := mustVqgen(t, "codes", "inspect", path); !strings.Contains(out, `"2024/a.jpg" ... "2025/c.jpg"`) {
		t.Fatalf("inspect output lacks the key range:\n%s", out)
	}
	if out := mustVqgen(t, "codes", "inspect", path, "--keys"); !strings.Contains(out, "1      2024/b.jpg") && !strings.Contains(out, "1\t2024/b.jpg") {
		t.Fatalf("inspect --keys lacks a key line:\n%s", out)
	}
}

// writePhotoFolder writes n small RGB PNGs of w x h pixels under dir, in
// two dated subfolders (which are not classes), each a different smooth
// pattern, and returns dir.
func writePhotoFolder(t *testing.T, dir string, n, w, h int) string {
	t.Helper()
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				o := img.PixOffset(x, y)
				img.Pix[o] = uint8(x*255/w + i*37)
				img.Pix[o+1] = uint8(y*255/h + i*11)
				img.Pix[o+2] = uint8((x+y)*(i%5+1)*8 + i*3)
				img.Pix[o+3] = 255
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("2024-0%d", i%2+1), fmt.Sprintf("p%02d.png", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return dir
}

// photoConfig writes a tiny config for 16x16 photos that, like the photo
// presets, names no data: --data does.
func photoConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = configs.Data{ValCount: 4, ImageSize: 16, Channels: 3, Labels: "none", Flip: true}
	cfg.VQVAE.Train.Batch, cfg.VQVAE.Train.EvalImages, cfg.VQVAE.Train.Steps = 8, 4, 20
	cfg.Prior.ValCount, cfg.Prior.Train.Batch, cfg.Prior.Train.Steps = 4, 8, 20
	cfg.Prior.Conditional = configs.SwitchAuto
	cfg.Run.EvalSamples = 100 // skipped all the same: a folder is not MNIST
	b, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "photos.toml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// vqgen run --data images:DIR trains on DIR's hashed 90%, reports on the
// other 10% with pictures for unlabelled data, records the data in the
// folder's config and refuses to continue with other data.
func TestRunOnPhotoFolder(t *testing.T) {
	base := t.TempDir()
	photos := writePhotoFolder(t, filepath.Join(base, "photos"), 48, 20, 16)
	conf := photoConfig(t, base)
	out := filepath.Join(base, "run")
	mustVqgen(t, "run", "--config", conf, "--data", "images:"+photos, "--out", out)

	cfg, err := configs.Load(filepath.Join(out, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "images:" + photos + ":train"; cfg.Data.Train != want || cfg.Data.Test != "images:"+photos+":test" {
		t.Errorf("config.toml records data %q and %q, want %q and its test split", cfg.Data.Train, cfg.Data.Test, want)
	}
	for _, f := range []string{"test-recon.png", "neighbours.png", "samples.png", "edits.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	rep := readJSON(t, filepath.Join(out, "report.json"))
	if v, _ := jsonKey(rep, "prior.conditional"); v != false {
		t.Errorf("prior.conditional = %v on unlabelled photos with \"auto\", want false", v)
	}
	if v, _ := jsonKey(rep, "samples.skipped"); !strings.Contains(fmt.Sprint(v), "MNIST digit classifier") || !strings.Contains(fmt.Sprint(v), "images:"+photos) {
		t.Errorf("samples.skipped = %v, want the judge's reason naming the folder", v)
	}
	isKey := func(v any) bool {
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, "2024-0") && strings.HasSuffix(s, ".png")
	}
	recon, _ := jsonKey(rep, "stage1.test_recon")
	if r, ok := recon.([]any); !ok || len(r) == 0 || !isKey(r[0].(map[string]any)["key"]) {
		t.Errorf("stage1.test_recon = %v, want the test images by their keys", recon)
	}
	nb, _ := jsonKey(rep, "sampling.neighbours")
	m, _ := nb.(map[string]any)
	samples, _ := m["samples"].([]any)
	if len(samples) != 16 {
		t.Fatalf("sampling.neighbours.samples has %d entries, want 16: %v", len(samples), nb)
	}
	for i, s := range samples {
		pair, _ := s.([]any)
		if len(pair) != 2 {
			t.Fatalf("sample %d has %d neighbours, want 2", i, len(pair))
		}
		a, b := pair[0].(map[string]any), pair[1].(map[string]any)
		if !isKey(a["key"]) || !isKey(b["key"]) || a["rmse"].(float64) > b["rmse"].(float64) || a["index"] == b["index"] {
			t.Errorf("sample %d: neighbours %v, want two distinct keyed training images, nearest first", i, pair)
		}
	}
	if m["mirrored"] != true || m["test_median_rmse"].(float64) <= 0 {
		t.Errorf("neighbours = %v, want mirrored (data.flip) and a test reference", m)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, s := range []string{"(test-recon.png)", "(neighbours.png)", "New images or copies?", "`2024-0", "MNIST digit classifier"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}

	// The data is part of the run's config: other data, or another test
	// folder, is refused before anything is touched.
	other := writePhotoFolder(t, filepath.Join(base, "other"), 40, 20, 16)
	state, _ := os.ReadFile(filepath.Join(out, "run-state.json"))
	for _, args := range [][]string{{"--data", "images:" + other}, {"--data", "images:" + photos, "--test", "images:" + other}} {
		_, err := vqgen(t, append([]string{"run", "--config", conf, "--out", out}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "different config") || !strings.Contains(err.Error(), "--force") {
			t.Errorf("run %v on the folder: %v, want a refusal (changed config)", args, err)
		}
	}
	if now, _ := os.ReadFile(filepath.Join(out, "run-state.json")); string(now) != string(state) {
		t.Error("a refused run changed run-state.json")
	}
	// The same data continues: nothing to do.
	if msg := mustVqgen(t, "run", "--config", conf, "--data", "images:"+photos, "--out", out); !strings.Contains(msg, "every stage was already done") {
		t.Errorf("the same command again: %s", msg)
	}

	// score names the images by their files.
	msg := mustVqgen(t, append(models(out), "score", "--data", "images:"+photos+":test")...)
	if !strings.Contains(msg, "2024-0") {
		t.Errorf("score does not name images by their keys:\n%s", msg)
	}
}

// A photo preset names no data: without --data it is refused before any
// folder is made, saying what to give.
func TestRunPresetNeedsData(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	for _, preset := range []string{"photos32", "photos64"} {
		_, err := vqgen(t, "run", "--config", preset, "--out", out)
		if err == nil || !strings.Contains(err.Error(), "--data not given") || !strings.Contains(err.Error(), preset) || !strings.Contains(err.Error(), "images:DIR") {
			t.Errorf("run --config %s without --data: %v, want a refusal asking for --data", preset, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("the refused run left a folder behind")
		}
	}
	_, err := vqgen(t, "train", "vqvae", "--config", "photos64", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "--data not given") {
		t.Errorf("train vqvae --config photos64 without --data: %v", err)
	}
	_, err = vqgen(t, "run", "--config", "photos64", "--data", "images", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "--data dataset spec") {
		t.Errorf("run --data images: %v, want the spec refused naming --data", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused run left a folder behind")
	}
}

// The config-vs-data check happens before any folder is made when the data
// comes from --data too.
func TestRunRefusesConditionalPriorOnDataFlag(t *testing.T) {
	base := t.TempDir()
	photos := writePhotoFolder(t, filepath.Join(base, "photos"), 30, 10, 8)
	cfg, err := configs.Load(photoConfig(t, base))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prior.Conditional = configs.SwitchOn
	b, _ := cfg.Encode()
	conf := filepath.Join(base, "cond.toml")
	os.WriteFile(conf, b, 0o644)
	out := filepath.Join(base, "run")
	_, err = vqgen(t, "run", "--config", conf, "--data", "images:"+photos, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "prior.conditional = true") || !strings.Contains(err.Error(), "images:"+photos+":train has no labels") {
		t.Fatalf("vqgen run: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the refused run left a folder behind")
	}
}
