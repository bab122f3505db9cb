package memguard

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"123", 123}, {"512MiB", 512 << 20}, {"512 mb", 512 << 20}, {"1.5GiB", 3 << 29}, {"8G", 8 << 30}, {"64k", 64 << 10}, {"10b", 10},
	} {
		if got, err := ParseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "1e400", "GiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMemAvailable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meminfo")
	write(t, p, "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   19821820 kB\n")
	if got, ok := memAvailable(p); !ok || got != 19821820<<10 {
		t.Errorf("memAvailable = %d, %v", got, ok)
	}
}

// TestCgroup: the limit less the usage that is not reclaimable cache, in
// a v2 tree, a v1 tree, a container that sees its own cgroup at the root,
// and without a limit.
func TestCgroup(t *testing.T) {
	t.Run("v2", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "cgroup.controllers"), "memory\n")
		dir := filepath.Join(root, "user.slice", "job")
		write(t, filepath.Join(dir, "memory.max"), "1073741824\n")
		write(t, filepath.Join(dir, "memory.current"), "536870912\n")
		write(t, filepath.Join(dir, "memory.stat"), "anon 300000000\ninactive_file 268435456\nfile 268435456\n")
		write(t, filepath.Join(root, "user.slice", "memory.max"), "max\n")
		self := filepath.Join(t.TempDir(), "cgroup")
		write(t, self, "0::/user.slice/job\n")
		got, src, ok := cgroupAvailable(self, root)
		if want := int64(1<<30 - (1<<29 - 1<<28)); !ok || got != want || !strings.Contains(src, "job") {
			t.Errorf("got %d from %q (%v), want %d", got, src, ok, want)
		}
	})
	t.Run("v1 container", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "memory", "memory.limit_in_bytes"), "2147483648\n")
		write(t, filepath.Join(root, "memory", "memory.usage_in_bytes"), "1073741824\n")
		write(t, filepath.Join(root, "memory", "memory.stat"), "cache 900000000\ntotal_inactive_file 536870912\n")
		self := filepath.Join(t.TempDir(), "cgroup")
		write(t, self, "4:memory:/process_api/abc\n3:cpuset:/\n0::/\n")
		got, _, ok := cgroupAvailable(self, root)
		if want := int64(1<<31 - (1<<30 - 1<<29)); !ok || got != want {
			t.Errorf("got %d (%v), want %d", got, ok, want)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "memory", "memory.limit_in_bytes"), "9223372036854771712\n")
		self := filepath.Join(t.TempDir(), "cgroup")
		write(t, self, "4:memory:/\n")
		if got, src, ok := cgroupAvailable(self, root); ok {
			t.Errorf("got a limit %d from %s", got, src)
		}
	})
}

// TestCheck: an estimate above VQGEN_MEMORY_LIMIT is refused with both
// figures and the keys of its big parts; one below passes; off passes
// anything; a bad value is an error naming the variable.
func TestCheck(t *testing.T) {
	e := Estimate{Task: "train the VQ-VAE", Parts: []Part{
		{"Go runtime and the binary", 64 << 20, nil},
		{"VQ-VAE activations at batch 4096", 3 << 30, []string{"vqvae.train.batch", "vqvae.hidden"}},
		{"train images", 200 << 20, []string{"data.train"}},
	}}
	t.Setenv(Env, "1GiB")
	err := Check(e)
	var tb *TooBigError
	if !errors.Is(err, ErrTooBig) || !errors.As(err, &tb) {
		t.Fatalf("Check = %v, want a refusal", err)
	}
	for _, s := range []string{"train the VQ-VAE needs about 3.3 GiB", "1.0 GiB is available (VQGEN_MEMORY_LIMIT=1GiB)",
		"VQ-VAE activations at batch 4096 3.0 GiB [vqvae.train.batch, vqvae.hidden]", "Lower the keys in brackets", "VQGEN_MEMORY_LIMIT=off"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("refusal lacks %q:\n%v", s, err)
		}
	}
	if strings.Contains(err.Error(), "[data.train]") {
		t.Errorf("refusal asks to lower a key of a small part:\n%v", err)
	}
	t.Setenv(Env, "4GiB")
	if err := Check(e); err != nil {
		t.Errorf("fits in 4 GiB: %v", err)
	}
	t.Setenv(Env, "off")
	if err := Check(Estimate{Parts: []Part{{"huge", math.MaxInt64 / 2, nil}}}); err != nil {
		t.Errorf("off: %v", err)
	}
	t.Setenv(Env, "lots")
	if err := Check(e); err == nil || !strings.Contains(err.Error(), Env) {
		t.Errorf("bad %s: %v", Env, err)
	}
}

// The system's figure is there on Linux and positive.
func TestMeasure(t *testing.T) {
	t.Setenv(Env, "")
	a, err := Measure()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && (a.Off || a.Bytes <= 0) {
		t.Errorf("Measure on Linux = %+v", a)
	}
}

func numParams(ps []*nn.Param) int64 {
	var n int64
	for _, p := range ps {
		n += int64(len(p.Data.Data))
	}
	return n
}

// The parameter counts are the models' own.
func TestParamCounts(t *testing.T) {
	for _, name := range configs.BuiltinNames() {
		cfg, err := configs.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, down := range []int{2, 4, 8} {
			c := *cfg
			c.VQVAE.Downsample = down
			c.Data.ImageSize = 32
			m, err := vqvae.New(c.VQVAE, c.Data, nn.NewRNG(1))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := vqvaeNet(c.VQVAE, c.Data).params, numParams(m.Params()); got != want {
				t.Errorf("%s, downsample %d: VQ-VAE estimate counts %d parameters, the model has %d", name, down, got, want)
			}
		}
		for _, classes := range []int{0, 10} {
			info := prior.Info{K: cfg.VQVAE.K, H: cfg.GridSize(), W: cfg.GridSize(), Classes: classes}
			tr, err := prior.NewTransformer(cfg.Prior.Transformer, info, nn.NewRNG(1))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := transformerNet(cfg.Prior.Transformer, info.K, info.H, classes).params, numParams(tr.Params()); got != want {
				t.Errorf("%s, %d classes: Transformer estimate counts %d parameters, the model has %d", name, classes, got, want)
			}
			pc, err := prior.NewPixelCNN(cfg.Prior.PixelCNN, info, nn.NewRNG(1))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := pixelCNNNet(cfg.Prior.PixelCNN, info.K, info.H, classes).params, numParams(pc.Params()); got != want {
				t.Errorf("%s, %d classes: PixelCNN estimate counts %d parameters, the model has %d", name, classes, got, want)
			}
		}
	}
}

// liveHeap is the heap in use after collecting garbage.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func part(e Estimate, prefix string) int64 {
	var s int64
	for _, p := range e.Parts {
		if strings.HasPrefix(p.What, prefix) {
			s += p.Bytes
		}
	}
	return s
}

// TestEstimatesMatchTheHeap trains each model two steps (with an
// evaluation and a checkpoint) and compares what the trainer holds, the
// live heap it added, with the estimate of its parameters and
// activations: the estimate must cover it without doubling it.
func TestEstimatesMatchTheHeap(t *testing.T) {
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.VQVAE.Hidden, cfg.VQVAE.ResHidden, cfg.VQVAE.K, cfg.VQVAE.D = 64, 16, 64, 16
	cfg.VQVAE.Train = configs.VQTrain{Steps: 2, Batch: 64, LR: 1e-3, EvalEvery: 2, EvalImages: 300, CheckpointEvery: 2, LogEvery: 1}
	cfg.Prior.Transformer = configs.Transformer{Layers: 2, Dim: 32, Heads: 2, MLPMult: 4}
	cfg.Prior.PixelCNN = configs.PixelCNN{Layers: 4, Channels: 32, Kernel: 3, Embed: 16, HeadHidden: 64}
	cfg.Prior.Train = configs.PriorTrain{Steps: 2, Batch: 64, LR: 1e-3, EvalEvery: 2, CheckpointEvery: 2, LogEvery: 1}
	cfg.Prior.ValCount = 300
	check := func(what string, measured, est int64) {
		t.Helper()
		r := float64(est) / float64(measured)
		t.Logf("%s: live heap %.1f MiB, estimate %.1f MiB (%.2fx)", what, float64(measured)/(1<<20), float64(est)/(1<<20), r)
		if r < 0.95 || r > 1.3 {
			t.Errorf("%s: estimate %.1f MiB for a live heap of %.1f MiB", what, float64(est)/(1<<20), float64(measured)/(1<<20))
		}
	}

	const n = 1000
	g := cfg.GridSize()
	ds := &datasets.Dataset{Name: "synthetic", N: n, C: 1, H: 28, W: 28, Pixels: make([]float32, n*28*28)}
	rng := nn.NewRNG(3)
	rng.Uniform(ds.Pixels, 0, 1)
	train, val, err := datasets.Split(ds, cfg.Prior.ValCount)
	if err != nil {
		t.Fatal(err)
	}
	m0 := liveHeap()
	tr, err := vqvae.NewTrainer(cfg, train, val, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	check("VQ-VAE", liveHeap()-m0, part(TrainVQVAE(cfg), "VQ-VAE"))
	runtime.KeepAlive(tr)
	tr = nil

	codes := &prior.Codes{Name: "synthetic", N: n, Info: prior.Info{K: cfg.VQVAE.K, H: g, W: g, Classes: 10},
		Grids: make([]int32, n*g*g), Labels: make([]int32, n)}
	for i := range codes.Grids {
		codes.Grids[i] = int32(i * 7919 % cfg.VQVAE.K)
	}
	for i := range codes.Labels {
		codes.Labels[i] = int32(i % 10)
	}
	for _, arch := range []string{"transformer", "pixelcnn"} {
		cfg.Prior.Arch = arch
		m0 := liveHeap()
		pt, err := prior.NewTrainer(cfg, codes, t.TempDir(), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := pt.Run(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		check(arch, liveHeap()-m0, part(TrainPrior(cfg, n, 10), "prior"))
		runtime.KeepAlive(pt)
	}
}

func TestImages(t *testing.T) {
	if n, side, ok := Images("mnist:train"); !ok || n != 60000 || side != 28 {
		t.Errorf("mnist:train: %d images of %d, %v", n, side, ok)
	}
	dir := t.TempDir()
	var test int
	for i := range 50 {
		name := filepath.Join("cats", string(rune('a'+i%26))+string(rune('a'+i/26))+".png")
		write(t, filepath.Join(dir, name), "")
		if datasets.IsTestFile(filepath.ToSlash(name)) {
			test++
		}
	}
	write(t, filepath.Join(dir, ".hidden", "x.png"), "")
	write(t, filepath.Join(dir, "cats", "notes.txt"), "")
	if n, _, ok := Images("images:" + dir + ":test"); !ok || n != test {
		t.Errorf("test split: %d, %v; want %d", n, ok, test)
	}
	if n, _, ok := Images("images:" + dir + ":train"); !ok || n != 50-test {
		t.Errorf("train split: %d, %v; want %d", n, ok, 50-test)
	}
	f, err := os.Create(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	z := gzip.NewWriter(f)
	hdr := []byte{0, 0, 8, 3}
	hdr = binary.BigEndian.AppendUint32(hdr, 1234)
	hdr = binary.BigEndian.AppendUint32(hdr, 32)
	hdr = binary.BigEndian.AppendUint32(hdr, 32)
	z.Write(hdr)
	z.Close()
	f.Close()
	if n, side, ok := Images("idx:" + dir + ":test"); !ok || n != 1234 || side != 32 {
		t.Errorf("idx: %d images of %d, %v", n, side, ok)
	}
	if _, _, ok := Images("idx:" + dir + ":train"); ok {
		t.Error("idx train split without a file counted")
	}
}

// The estimate scores validation grids in the batches the prior's trainer
// uses.
func TestPriorEvalBatch(t *testing.T) {
	for _, g := range []int{1, 7, 8, 16, 32, 200} {
		if got, want := max(1, priorEvalCodes/(g*g)), prior.EvalBatch(prior.Info{H: g, W: g}); got != want {
			t.Errorf("%dx%d grids: the estimate scores %d at once, the trainer %d", g, g, got, want)
		}
	}
}
