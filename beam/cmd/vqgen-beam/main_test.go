package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/beam/internal/mnistpng"
	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// execute runs vqgen-beam with args in this process (on prism) and returns
// its standard output.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestEncodeCommand(t *testing.T) {
	dir := t.TempDir()
	images := filepath.Join(dir, "digits")
	if _, err := mnistpng.Write(images, "test", 30); err != nil {
		t.Fatal(err)
	}
	// An untrained tiny VQ-VAE: the command's plumbing is what is tested.
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, err := vqvae.New(cfg.VQVAE, cfg.Data, nn.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "vqvae.safetensors")
	if err := m.Save(ckpt, cfg, 0, nil); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(images)
	if err != nil {
		t.Fatal(err)
	}
	digits := len(entries) // the class folders of the 30 images
	out := filepath.Join(dir, "codes.vqc")
	args := []string{"encode", "--vqvae", ckpt, "--data", "images:" + images, "--out", out, "--shards", "2"}
	stdout, err := execute(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout, "encode: wrote 30 images into 2 files") {
		t.Errorf("encode printed %q", stdout)
	}
	var n int64
	for _, p := range []string{"codes-00000-of-00002.vqc", "codes-00001-of-00002.vqc"} {
		f, err := datasets.OpenCodeFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if h := f.Header(); !h.Labels || h.NumClasses != digits || h.Fingerprint != datasets.CodeFingerprint(m.Fingerprint()) {
			t.Errorf("%s: header %+v", p, h)
		}
		n += f.Count()
		f.Close()
	}
	if n != 30 {
		t.Errorf("the shards hold %d images, want 30", n)
	}
	if _, err := execute(t, args...); err == nil || !strings.Contains(err.Error(), "already exists; use --force") {
		t.Errorf("second encode: error %v, want a refusal", err)
	}
	if _, err := execute(t, append(args, "--force", "--unlabelled")...); err != nil {
		t.Errorf("encode --force: %v", err)
	}
	f, err := datasets.OpenCodeFile(filepath.Join(dir, "codes-00001-of-00002.vqc"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header().Labels {
		t.Errorf("--unlabelled wrote labels")
	}
	f.Close()
	if _, err := execute(t, "encode", "--vqvae", ckpt, "--out", out); err == nil || !strings.Contains(err.Error(), `"data"`) {
		t.Errorf("encode without --data: error %v", err)
	}
	if _, err := execute(t, "encode", "--vqvae", ckpt, "--data", "mnist:train", "--out", out); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("encode --data mnist:train: error %v", err)
	}
	if _, err := execute(t, "encode", "--vqvae", filepath.Join(dir, "missing.safetensors"), "--data", "images:"+images, "--out", filepath.Join(dir, "x.vqc")); err == nil || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("missing checkpoint: error %v", err)
	}
}

func TestHelpListsRunnerFlags(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, want := range []string{"--runner", "--endpoint", "--environment_type", "encode", "sample", "score"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
	for _, hidden := range []string{"--project", "--worker ", "--control_endpoint"} {
		if strings.Contains(help, hidden) {
			t.Errorf("--help lists Beam's %s", hidden)
		}
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
