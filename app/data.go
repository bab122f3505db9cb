package app

import (
	"path/filepath"
	"runtime/debug"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// CacheDirFor is where runs in out keep decoded image folders: the
// .vqgen-cache folder beside out (for runs/photos, runs/.vqgen-cache), so
// the cache outlives Force and serves every run made there.
func CacheDirFor(out string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(out)), ".vqgen-cache")
}

// dataOptions caches decoded image folders beside out and reports decoding
// as a phase per dataset.
func dataOptions(out string, prog Progress) vqvae.DataOptions {
	started := ""
	return vqvae.DataOptions{
		CacheDir: CacheDirFor(out),
		Progress: func(spec string, done, total int) {
			if started != spec {
				prog.Begin(Phase{Name: "decode " + spec, Total: total, Done: done, ItemsPerUnit: 1, Item: "img"})
				started = spec
			}
			prog.Update(done)
			if done == total {
				prog.End()
				started = ""
			}
		},
	}
}

// checkData checks cfg against the data it names before any training
// (vqvae.CheckData: a conditional prior over unlabelled photos, a
// validation split larger than the data, ...) and returns the resolved
// config (prior.conditional = "auto" decided). It also bounds the garbage
// collector's headroom when the decoded images will be large: Go lets the
// heap grow to twice what is live before collecting, and the pixels count
// as live, so 600 MB of photos would let 600 MB of garbage pile up on top.
// They hold no pointers, so collecting more often costs little; with at
// most 256 MiB of headroom a 50,000-image 64x64 folder trains within
// 1.5 GiB.
func checkData(cfg *configs.Config) (*configs.Config, error) {
	r, facts, err := vqvae.CheckData(cfg)
	if err != nil {
		return nil, err
	}
	const headroom = 256 << 20
	if b := vqvae.PixelBytes(cfg, facts); b > headroom {
		debug.SetGCPercent(max(20, int(100*headroom/b)))
	}
	return r, nil
}

// DataFlags name the data of a training run on the command line, over the
// config's data.train and data.test.
type DataFlags struct {
	// Data is the training data, a dataset spec. A whole image folder
	// (images:DIR) trains on its hashed 90% and is tested on the other
	// 10% (images:DIR:train and images:DIR:test), or trains whole when
	// Test names another folder; a split (images:DIR:train, mnist:train)
	// trains on that split and is tested on the other one. "" keeps
	// data.train and data.test of the config.
	Data string `json:"data"`
	// Test is the test data, a dataset spec ("" for Data's test split, or
	// data.test of the config).
	Test string `json:"test"`
}

// withData returns cfg with the data of f applied, and refuses a config
// that then names no training or no test data (the photo presets leave
// both to the command line). name is the config's name for messages.
func withData(cfg *configs.Config, name string, f DataFlags) (*configs.Config, error) {
	c := *cfg
	if f.Data != "" {
		sp, err := datasets.ParseSpec(f.Data)
		if err != nil {
			return nil, optionErr("data", "%v", err)
		}
		c.Data.Train, c.Data.Test = sp.String(), ""
		switch {
		case sp.Whole() && f.Test == "":
			tr, te := sp, sp
			tr.Split, te.Split = "train", "test"
			c.Data.Train, c.Data.Test = tr.String(), te.String()
		case sp.Whole():
		default:
			te := sp
			te.Split = map[string]string{"train": "test", "test": "train"}[sp.Split]
			c.Data.Test = te.String()
		}
	}
	if f.Test != "" {
		sp, err := datasets.ParseSpec(f.Test)
		if err != nil {
			return nil, optionErr("test", "%v", err)
		}
		c.Data.Test = sp.String()
	}
	if c.Data.Train == "" {
		return nil, optionErr("data", "not given, and the config %s names no training images (data.train): give a folder of photos as images:DIR (its hashed 90%% trains, the other 10%% is the test split)", name)
	}
	if c.Data.Test == "" {
		return nil, optionErr("test", "not given, and the config %s names no test images (data.test): give images:DIR, or a whole folder to data as images:DIR to test on its hashed 10%%", name)
	}
	return &c, nil
}
