package app

import (
	"path/filepath"
	"runtime/debug"

	"github.com/vqgen/vqgen/configs"
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
