package prior

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
)

// writeCodes writes n random 7x7 grids of K codes as a code file.
func writeCodes(t *testing.T, path string, k, n int, seed uint64) {
	t.Helper()
	w, err := datasets.CreateCodeFile(path, datasets.CodeHeader{Count: int64(n), GridH: 7, GridW: 7, K: k, ImageH: 28, ImageW: 28, Channels: 1}, true)
	if err != nil {
		t.Fatal(err)
	}
	rng := nn.NewRNG(seed)
	grids := make([]uint16, n*49)
	for i := range grids {
		grids[i] = uint16(rng.Intn(k))
	}
	if err := w.WriteBatch(grids, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTrainCodesByNameAndHash: a checkpoint records its training codes by
// base name and SHA-256, never by location: the file is found beside it or
// in the folder above, only when its bytes match; a checkpoint written
// before (with an absolute path) still loads and finds its file.
func TestTrainCodesByNameAndHash(t *testing.T) {
	cfg := configs.Default()
	cfg.Prior.Arch = "transformer"
	cfg.Prior.Transformer = configs.Transformer{Layers: 1, Dim: 8, Heads: 2, MLPMult: 2}
	p, err := New(cfg, Info{K: 16, H: 7, W: 7}, nn.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	codes := filepath.Join(run, "codes-train.vqc")
	writeCodes(t, codes, 16, 20, 1)
	os.Mkdir(filepath.Join(run, "prior"), 0o755)
	ckpt := filepath.Join(run, "prior", "prior.safetensors")
	if err := Save(ckpt, p, cfg, "fp", codes, 3); err != nil {
		t.Fatal(err)
	}
	f, err := nn.LoadSafetensors(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range f.Metadata {
		if strings.Contains(v, run) {
			t.Errorf("metadata %s holds the path %q", k, v)
		}
	}
	ck, err := Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ck.FindTrainCodes(""); err != nil || got != codes {
		t.Errorf("in the run folder: %q, %v; want %s", got, err, codes)
	}

	// Another file under the same name is not taken for it.
	writeCodes(t, codes+".other", 16, 20, 2)
	os.Rename(codes, codes+".away")
	os.Rename(codes+".other", codes)
	if _, err := ck.FindTrainCodes(""); !errors.Is(err, ErrTrainCodesNotFound) {
		t.Errorf("a different codes-train.vqc: %v, want ErrTrainCodesNotFound", err)
	}
	if _, err := ck.FindTrainCodes(codes); err == nil || !strings.Contains(err.Error(), "is not the code file") {
		t.Errorf("a different file given explicitly: %v", err)
	}
	os.Rename(codes+".away", codes)

	// A checkpoint from before names and hashes: an absolute path only.
	meta := f.Metadata
	delete(meta, MetaTrainCodesName)
	delete(meta, MetaTrainCodesSHA256)
	meta[MetaTrainCodesLegacy] = codes
	old := filepath.Join(t.TempDir(), "old.safetensors")
	if err := nn.SaveSafetensors(old, nn.ParamTensors(p.Params()), meta); err != nil {
		t.Fatal(err)
	}
	ck, err = Load(old)
	if err != nil {
		t.Fatalf("an old checkpoint no longer loads: %v", err)
	}
	if got, err := ck.FindTrainCodes(""); err != nil || got != codes || ck.TrainCodes.Name != "codes-train.vqc" {
		t.Errorf("old checkpoint: %q, %v (ref %+v); want %s", got, err, ck.TrainCodes, codes)
	}
}
