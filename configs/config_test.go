package configs

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// The shipped mnist.toml must spell out exactly the defaults, every key of
// them, each with a comment, so the file documents what Default does.
func TestMNISTFileEqualsDefault(t *testing.T) {
	data, err := os.ReadFile("mnist.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "configs/mnist.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("configs/mnist.toml differs from Default():\nfile:    %+v\ndefault: %+v", c, Default())
	}
	// Decoding into a zero Config shows that every default is really
	// written, not merely inherited from Default.
	var zero Config
	md, err := toml.Decode(string(data), &zero)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&zero, Default()) {
		t.Fatalf("configs/mnist.toml leaves keys out:\nfile alone: %+v", zero)
	}
	written := map[string]bool{}
	for _, k := range md.Keys() {
		written[k.String()] = true
	}
	for _, k := range Keys() {
		if !written[k] {
			t.Errorf("configs/mnist.toml does not write %s", k)
		}
	}
	assign := regexp.MustCompile(`^\s*[a-z_0-9]+\s*=`)
	for i, line := range strings.Split(string(data), "\n") {
		if assign.MatchString(line) && !strings.Contains(line, "#") {
			t.Errorf("configs/mnist.toml:%d: key without a comment: %s", i+1, line)
		}
	}
}

func TestShippedConfigsValid(t *testing.T) {
	for _, name := range BuiltinNames() {
		c, err := Builtin(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fromFile, err := Load(name + ".toml")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, fromFile) {
			t.Errorf("%s: embedded and on-disk configs differ", name)
		}
	}
	tiny, err := Load("tiny.toml")
	if err != nil {
		t.Fatal(err)
	}
	if tiny.Data.TrainLimit != 2000 || tiny.Data.TestLimit != 500 || tiny.Data.ValCount != 500 ||
		tiny.VQVAE.K != 32 || tiny.VQVAE.Hidden != 16 || tiny.Run.EvalSamples != 0 {
		t.Errorf("tiny.toml not tiny: %+v", tiny)
	}
	// Keys tiny.toml leaves out keep their defaults.
	if tiny.VQVAE.Downsample != 4 || tiny.Data.Train != "mnist:train" || tiny.Prior.Arch != Default().Prior.Arch {
		t.Errorf("tiny.toml lost defaults: %+v", tiny)
	}
	if g := tiny.GridSize(); g != 7 || tiny.SeqLen() != 49 {
		t.Errorf("grid %d, seq %d; want 7, 49", g, tiny.SeqLen())
	}
	if _, err := Builtin("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Builtin(nope) = %v", err)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // substrings of the error
	}{
		{"unknown top", "sead = 2", []string{"x.toml: sead: unknown key; did you mean seed?"}},
		{"unknown in table", "[vqvae]\nkk = 3", []string{"x.toml: vqvae.kk: unknown key; did you mean vqvae.k?"}},
		{"wrong table", "[vqvae]\nsteps = 3", []string{"vqvae.steps: unknown key; did you mean vqvae.train.steps?"}},
		{"unknown table", "[vqvae.trian]\nsteps = 3", []string{"vqvae.trian: unknown key; did you mean vqvae.train?"}},
		{"case differs", "[VQVAE]\nk = 3", []string{"VQVAE: unknown key; did you mean vqvae?"}},
		{"string for int", "[vqvae]\nk = \"512\"", []string{`x.toml: vqvae.k = "512": want an integer, got a string`}},
		{"float for int", "[vqvae.train]\nsteps = 1.5", []string{"vqvae.train.steps = 1.5: want an integer, got a float"}},
		{"int for string", "[prior]\narch = 3", []string{"prior.arch = 3: want a string, got an integer"}},
		{"string for bool", "[data]\nflip = \"yes\"", []string{`data.flip = "yes": want true or false, got a string`}},
		{"bad switch", "[prior]\nconditional = \"yes\"", []string{`prior.conditional = "yes": want true, false or "auto", got "yes"`}},
		{"number for switch", "[prior]\nconditional = 1", []string{`prior.conditional = 1: want true, false or "auto", got an integer`}},
		{"bad labels", "[data]\nlabels = \"dates\"", []string{`data.labels = "dates": must be one of "folders", "none"`}},
		{"string for float", "[vqvae]\nbeta = \"x\"", []string{`vqvae.beta = "x": want a number, got a string`}},
		{"scalar for table", "vqvae = 3", []string{"vqvae = 3: want a table, got an integer"}},
		{"negative seed", "seed = -1", []string{"seed = -1: must be >= 0"}},
		{"array for int", "[sample]\nn = [1, 2]", []string{"sample.n = [...]: want an integer, got an array"}},
		{"several", "[vqvae]\nk = 0\nd = 0", []string{"x.toml: vqvae.k = 0: must be in [2, 65536]", "x.toml: vqvae.d = 0: must be >= 1"}},
		{"syntax", "[vqvae\nk = 1", []string{"x.toml:2:", "table name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), "x.toml")
			if err == nil {
				t.Fatalf("no error; got %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// An int is accepted where a float is wanted: `lr = 1` is a fine number.
func TestIntForFloat(t *testing.T) {
	c, err := Parse([]byte("[sample]\ntemperature = 2"), "x.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Sample.Temperature != 2 {
		t.Errorf("temperature = %v", c.Sample.Temperature)
	}
}

// Each range check fires on its own and names its key; the cross-field ones
// name both keys.
func TestValidateRanges(t *testing.T) {
	tests := []struct {
		mod  func(c *Config)
		want string
	}{
		{func(c *Config) { c.Seed = 1 << 63 }, "seed = 9223372036854775808: must be <= 9223372036854775807"},
		{func(c *Config) { c.Data.Train = "\t" }, `data.train = "\t": must not be blank`},
		{func(c *Config) { c.Data.Test = " " }, `data.test = " ": must not be blank`},
		{func(c *Config) { c.Data.ValCount = -1 }, "data.val_count = -1: must be >= 0"},
		{func(c *Config) { c.Data.TrainLimit = -1 }, "data.train_limit = -1: must be >= 0"},
		{func(c *Config) { c.Data.TestLimit = -2 }, "data.test_limit = -2: must be >= 0"},
		{func(c *Config) { c.Data.ImageSize = 0 }, "data.image_size = 0: must be in [1, 4096]"},
		{func(c *Config) { c.Data.Channels = 2 }, "data.channels = 2: must be one of 1, 3"},
		{func(c *Config) { c.Data.TrainLimit = 100; c.Prior.ValCount = 50 }, "data.val_count = 5000: leaves no training images from data.train_limit = 100"},
		{func(c *Config) { c.VQVAE.Hidden = 0 }, "vqvae.hidden = 0: must be >= 1"},
		{func(c *Config) { c.VQVAE.ResHidden = 0 }, "vqvae.res_hidden = 0: must be >= 1"},
		{func(c *Config) { c.VQVAE.ResBlocks = -1 }, "vqvae.res_blocks = -1: must be >= 0"},
		{func(c *Config) { c.VQVAE.Downsample = 3 }, "vqvae.downsample = 3: must be one of 2, 4, 8"},
		{func(c *Config) { c.VQVAE.Downsample = 8 }, "data.image_size = 28: not divisible by vqvae.downsample = 8"},
		{func(c *Config) { c.VQVAE.K = 0 }, "vqvae.k = 0: must be in [2, 65536]"},
		{func(c *Config) { c.VQVAE.K = 65537 }, "vqvae.k = 65537: must be in [2, 65536]"},
		{func(c *Config) { c.VQVAE.D = 0 }, "vqvae.d = 0: must be >= 1"},
		{func(c *Config) { c.VQVAE.Beta = -0.1 }, "vqvae.beta = -0.1: must be a finite number >= 0"},
		{func(c *Config) { c.VQVAE.Codebook = "kmeans" }, `vqvae.codebook = "kmeans": must be one of "ema", "gradient"`},
		{func(c *Config) { c.VQVAE.EMADecay = 1 }, "vqvae.ema_decay = 1: must be in (0, 1)"},
		{func(c *Config) { c.VQVAE.EMAEps = 0 }, "vqvae.ema_eps = 0: must be a finite number > 0"},
		{func(c *Config) { c.VQVAE.InitBatches = 0 }, "vqvae.init_batches = 0: must be >= 1"},
		{func(c *Config) { c.VQVAE.InitKMeansIters = -1 }, "vqvae.init_kmeans_iters = -1: must be >= 0"},
		{func(c *Config) { c.VQVAE.DeadAfter = 0 }, "vqvae.dead_after = 0: must be >= 1"},
		{func(c *Config) { c.VQVAE.Train.Steps = 0 }, "vqvae.train.steps = 0: must be >= 1"},
		{func(c *Config) { c.VQVAE.Train.Batch = 0 }, "vqvae.train.batch = 0: must be >= 1"},
		{func(c *Config) { c.VQVAE.Train.LR = 0 }, "vqvae.train.lr = 0: must be a finite number > 0"},
		{func(c *Config) { c.VQVAE.Train.Warmup = -1 }, "vqvae.train.warmup = -1: must be >= 0"},
		{func(c *Config) { c.VQVAE.Train.Warmup = 1801 }, "vqvae.train.warmup = 1801: longer than vqvae.train.steps = 1800"},
		{func(c *Config) { c.VQVAE.Train.LRMin = 1e-3 }, "vqvae.train.lr_min = 0.001: greater than vqvae.train.lr = 0.0005"},
		{func(c *Config) { c.VQVAE.Train.GradClip = -1 }, "vqvae.train.grad_clip = -1: must be a finite number >= 0"},
		{func(c *Config) { c.VQVAE.Train.EvalEvery = -1 }, "vqvae.train.eval_every = -1: must be >= 0"},
		{func(c *Config) { c.VQVAE.Train.EvalImages = 0 }, "vqvae.train.eval_images = 0: must be >= 1"},
		{func(c *Config) { c.VQVAE.Train.EvalImages = 6000 }, "vqvae.train.eval_images = 6000: more than the data.val_count = 5000 validation images"},
		{func(c *Config) { c.VQVAE.Train.CheckpointEvery = -1 }, "vqvae.train.checkpoint_every = -1: must be >= 0"},
		{func(c *Config) { c.VQVAE.Train.LogEvery = 0 }, "vqvae.train.log_every = 0: must be >= 1"},
		{func(c *Config) { c.Prior.Arch = "lstm" }, `prior.arch = "lstm": must be one of "pixelcnn", "transformer"`},
		{func(c *Config) { c.Prior.ValCount = -1 }, "prior.val_count = -1: must be >= 0"},
		{func(c *Config) { c.Data.TrainLimit = 5001; c.Prior.ValCount = 6000 }, "prior.val_count = 6000: leaves no training grids from data.train_limit = 5001"},
		{func(c *Config) { c.Prior.PixelCNN.Layers = 0 }, "prior.pixelcnn.layers = 0: must be >= 1"},
		{func(c *Config) { c.Prior.PixelCNN.Channels = 0 }, "prior.pixelcnn.channels = 0: must be >= 1"},
		{func(c *Config) { c.Prior.PixelCNN.Kernel = 4 }, "prior.pixelcnn.kernel = 4: must be odd"},
		{func(c *Config) { c.Prior.PixelCNN.Kernel = 1 }, "prior.pixelcnn.kernel = 1: must be in [3, 15]"},
		{func(c *Config) { c.Prior.PixelCNN.Embed = 0 }, "prior.pixelcnn.embed = 0: must be >= 1"},
		{func(c *Config) { c.Prior.PixelCNN.HeadHidden = 0 }, "prior.pixelcnn.head_hidden = 0: must be >= 1"},
		{func(c *Config) { c.Prior.Transformer.Layers = 0 }, "prior.transformer.layers = 0: must be >= 1"},
		{func(c *Config) { c.Prior.Transformer.Dim = 0 }, "prior.transformer.dim = 0: must be >= 1"},
		{func(c *Config) { c.Prior.Transformer.Heads = 0 }, "prior.transformer.heads = 0: must be >= 1"},
		{func(c *Config) { c.Prior.Transformer.Heads = 3 }, "prior.transformer.dim = 128: not divisible by prior.transformer.heads = 3"},
		{func(c *Config) { c.Prior.Transformer.MLPMult = 0 }, "prior.transformer.mlp_mult = 0: must be >= 1"},
		{func(c *Config) { c.Prior.Train.Steps = -5 }, "prior.train.steps = -5: must be >= 1"},
		{func(c *Config) { c.Prior.Train.Batch = 0 }, "prior.train.batch = 0: must be >= 1"},
		{func(c *Config) { c.Prior.Train.LR = -1 }, "prior.train.lr = -1: must be a finite number > 0"},
		{func(c *Config) { c.Prior.Train.LRMin = -1 }, "prior.train.lr_min = -1: must be a finite number >= 0"},
		{func(c *Config) { c.Prior.Train.Warmup = 1001 }, "prior.train.warmup = 1001: longer than prior.train.steps = 1000"},
		{func(c *Config) { c.Prior.Train.WeightDecay = -0.1 }, "prior.train.weight_decay = -0.1: must be a finite number >= 0"},
		{func(c *Config) { c.Prior.Train.ClassDropout = -0.1 }, "prior.train.class_dropout = -0.1: must be"},
		{func(c *Config) { c.Prior.Train.ClassDropout = 1 }, "prior.train.class_dropout = 1: must be"},
		{func(c *Config) { c.Sample.Guidance = -0.5 }, "sample.guidance = -0.5: must be a finite number >= 0"},
		{func(c *Config) { c.Prior.Train.GradClip = -1 }, "prior.train.grad_clip = -1: must be a finite number >= 0"},
		{func(c *Config) { c.Prior.Train.EvalEvery = -1 }, "prior.train.eval_every = -1: must be >= 0"},
		{func(c *Config) { c.Prior.Train.CheckpointEvery = -1 }, "prior.train.checkpoint_every = -1: must be >= 0"},
		{func(c *Config) { c.Prior.Train.LogEvery = 0 }, "prior.train.log_every = 0: must be >= 1"},
		{func(c *Config) { c.Sample.N = 0 }, "sample.n = 0: must be >= 1"},
		{func(c *Config) { c.Sample.Temperature = 0 }, "sample.temperature = 0: must be a finite number > 0"},
		{func(c *Config) { c.Sample.TopK = -1 }, "sample.top_k = -1: must be >= 0"},
		{func(c *Config) { c.Sample.TopK = 513 }, "sample.top_k = 513: more than the vqvae.k = 512 codes"},
		{func(c *Config) { c.Sample.TopP = 0 }, "sample.top_p = 0: must be in (0, 1]"},
		{func(c *Config) { c.Sample.TopP = 1.5 }, "sample.top_p = 1.5: must be in (0, 1]"},
		{func(c *Config) { c.Sample.Seed = 1 << 63 }, "sample.seed = 9223372036854775808: must be <= 9223372036854775807"},
		{func(c *Config) { c.Edit.Method = "random" }, `edit.method = "random": must be one of "gibbs", "raster"`},
		{func(c *Config) { c.Edit.Sweeps = 0 }, "edit.sweeps = 0: must be >= 1"},
		{func(c *Config) { c.Edit.N = 0 }, "edit.n = 0: must be >= 1"},
		{func(c *Config) { c.Run.EvalSamples = -1 }, "run.eval_samples = -1: must be >= 0"},
		{func(c *Config) { c.Run.PerClass = -1 }, "run.per_class = -1: must be >= 0"},
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tt := range tests {
		c := Default()
		tt.mod(c)
		err := c.Validate()
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("want %q, got %v", tt.want, err)
			continue
		}
		// Exactly one problem: the check fires alone, not as a side effect.
		if len(ce.Problems) != 1 || !strings.HasPrefix(ce.Problems[0].String(), tt.want) {
			t.Errorf("want one problem %q, got:\n%v", tt.want, err)
		}
	}
}

func TestNonFiniteFloats(t *testing.T) {
	for _, doc := range []string{"[vqvae]\nbeta = nan", "[vqvae]\nbeta = inf", "[sample]\ntemperature = -inf"} {
		_, err := Parse([]byte(doc), "x.toml")
		if err == nil || !strings.Contains(err.Error(), "must be a finite number") {
			t.Errorf("%q: got %v", doc, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("does-not-exist.toml")
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.toml") {
		t.Errorf("got %v", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	tiny, err := Load("tiny.toml")
	if err != nil {
		t.Fatal(err)
	}
	odd := Default()
	odd.Seed = 1<<62 + 12345
	odd.VQVAE.EMAEps = 1.2345678901234e-7
	odd.Data.Train = "path/with \"quotes\" and \\ slash.idx"
	odd.Prior.Arch = "transformer"
	odd.VQVAE.DataInit = false
	for name, c := range map[string]*Config{"default": Default(), "tiny": tiny, "odd": odd} {
		data, err := c.Encode()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := Parse(data, name+"/config.toml")
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, data)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("%s: round trip changed the config:\n%+v\n%+v", name, c, back)
		}
	}
}

func TestKeysCoverSchema(t *testing.T) {
	keys := Keys()
	if len(keys) < 60 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] || strings.Contains(k, "..") || strings.HasSuffix(k, ".") {
			t.Errorf("bad or repeated key %q", k)
		}
		seen[k] = true
	}
	for _, k := range []string{"seed", "vqvae.k", "vqvae.train.eval_images", "prior.transformer.mlp_mult", "run.per_class"} {
		if !seen[k] {
			t.Errorf("missing %s", k)
		}
	}
}
