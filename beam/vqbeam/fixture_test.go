package vqbeam

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/vqgen/vqgen/beam/internal/mnistpng"
	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// fixtureImages is the size of the test collection: 2,000 MNIST training
// images as PNG files in class folders.
const fixtureImages = 2000

// fixture is what the pipeline tests share: the image folder, a tiny
// VQ-VAE and a class-conditional prior trained on it (configs/tiny.toml,
// fewer steps), and the vqgen binary built from the parent module, whose
// outputs the pipelines must reproduce.
type fixture struct {
	images, vqvae, prior, vqgen string
}

var (
	fixtureOnce sync.Once
	theFixture  *fixture
	fixtureErr  error
	fixtureRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureRoot != "" {
		os.RemoveAll(fixtureRoot)
	}
	os.Exit(code)
}

func getFixture(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureRoot, fixtureErr = os.MkdirTemp("", "vqbeam-test-")
		if fixtureErr == nil {
			theFixture, fixtureErr = buildFixture(fixtureRoot)
		}
	})
	if fixtureErr != nil {
		t.Fatalf("test fixture: %v", fixtureErr)
	}
	return theFixture
}

func buildFixture(root string) (*fixture, error) {
	f := &fixture{images: filepath.Join(root, "digits")}
	if _, err := mnistpng.Write(f.images, "train", fixtureImages); err != nil {
		return nil, err
	}
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		return nil, err
	}
	cfg.VQVAE.Train.Steps = 30
	cfg.Prior.Train.Steps = 20
	ds, err := datasets.MNIST("train")
	if err != nil {
		return nil, err
	}
	ds = ds.Slice(0, fixtureImages)
	train, val, err := datasets.Split(ds, cfg.Data.ValCount)
	if err != nil {
		return nil, err
	}
	vqDir := filepath.Join(root, "vqvae")
	tr, err := vqvae.NewTrainer(cfg, train, val, vqDir, false)
	if err != nil {
		return nil, err
	}
	if err := tr.Run(context.Background(), nil); err != nil {
		return nil, err
	}
	f.vqvae = filepath.Join(vqDir, vqvae.BestFile)
	m, _, err := vqvae.Load(f.vqvae)
	if err != nil {
		return nil, err
	}
	codes := filepath.Join(root, "codes.vqc")
	if err := vqvae.EncodeDataset(m, ds, codes, false, 500, nil); err != nil {
		return nil, err
	}
	c, err := prior.LoadCodes(codes)
	if err != nil {
		return nil, err
	}
	priorDir := filepath.Join(root, "prior")
	pt, err := prior.NewTrainer(cfg, c, priorDir, false)
	if err != nil {
		return nil, err
	}
	if err := pt.Run(context.Background(), nil); err != nil {
		return nil, err
	}
	f.prior = filepath.Join(priorDir, prior.BestFile)
	// The parent module's vqgen, built with its own go.mod: the single-
	// machine reference every pipeline is compared with.
	f.vqgen = filepath.Join(root, "vqgen")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "build", "-o", f.vqgen, "./cmd/vqgen")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building vqgen: %v\n%s", err, out)
	}
	return f, nil
}

// vqgen runs the reference binary and returns its standard output.
func (f *fixture) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(f.vqgen, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vqgen %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// runPipeline builds a pipeline with build and runs it on prism, in
// process, and summarizes the outputs.
func runPipeline(t *testing.T, outputs []string, build func(context.Context, beam.Scope) (beam.PCollection, error)) (Summary, error) {
	t.Helper()
	ctx := context.Background()
	p, s := beam.NewPipelineWithRoot()
	if _, err := build(ctx, s); err != nil {
		return Summary{}, err
	}
	if _, err := Run(ctx, p); err != nil {
		return Summary{}, err
	}
	return Summarize(ctx, outputs)
}
