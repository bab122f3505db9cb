package app

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/internal/memguard"
)

// TestRefusesWhatDoesNotFit: with the memory available set low, every
// operation that allocates a dataset or a model refuses before it does,
// with the estimate and the config keys to lower, and writes nothing.
func TestRefusesWhatDoesNotFit(t *testing.T) {
	dir, _ := trainedPair(t)
	codes := filepath.Join(dir, "run", CodesTrainFile)
	t.Setenv(memguard.Env, "32MiB")
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out")
	for _, tt := range []struct {
		name string
		call func() error
		want []string
	}{
		{"run", func() error { _, err := Run(ctx, RunOptions{Config: "tiny", Out: out}, nil); return err },
			[]string{"encode mnist:train needs about", "test images (mnist:test: 10000 of 1x28x28, kept decoded since stage one)"}},
		{"train vqvae", func() error {
			_, err := TrainVQVAE(ctx, TrainVQVAEOptions{Config: "tiny", TrainFolder: TrainFolder{Out: out}}, nil)
			return err
		}, []string{"train the VQ-VAE needs about", "train images (mnist:train: 60000 of 1x28x28)"}},
		{"encode", func() error {
			_, err := Encode(ctx, EncodeOptions{VQVAE: pair.vq, Data: "train", Out: filepath.Join(out, "c.vqc")}, nil)
			return err
		}, []string{"encode mnist:train needs about", "VQ-VAE forward passes of 500 images"}},
		{"train prior", func() error {
			_, err := TrainPrior(ctx, TrainPriorOptions{Loaded: tinyConfig(t), Codes: codes, Arch: "pixelcnn", TrainFolder: TrainFolder{Out: out}}, nil)
			return err
		}, []string{"train the prior needs about", "prior activations (training batch 32, scored in batches of 200", "prior.pixelcnn.channels"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, ErrTooBig) {
				t.Fatalf("got %v, want a refusal", err)
			}
			for _, s := range append(tt.want, "but 32 MiB is available (VQGEN_MEMORY_LIMIT=32MiB)", "Lower the keys in brackets") {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("refusal lacks %q:\n%v", s, err)
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s was written before the refusal", out)
			}
		})
	}
}
