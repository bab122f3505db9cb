package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vqgen/vqgen/configs"
)

// DefaultConfig names the config used when none is given: configs/mnist.toml,
// or the same file built into the binary.
const DefaultConfig = "configs/mnist.toml"

// BuiltinConfigs names the configurations shipped inside the binary
// (mnist, tiny, photos32, photos64).
func BuiltinConfigs() []string { return configs.BuiltinNames() }

// LoadConfig reads a config file, or a built-in one by name ("mnist",
// "tiny", "photos32", "photos64", also as "configs/tiny.toml" or
// "tiny.toml") when no such file exists, so the binary works outside the
// source tree.
func LoadConfig(path string) (*configs.Config, error) {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return configs.Load(path)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".toml")
	for _, b := range configs.BuiltinNames() {
		if name == b && (path == b || path == filepath.Join("configs", b+".toml") || path == b+".toml") {
			return configs.Builtin(b)
		}
	}
	return nil, fmt.Errorf("config %s: no such file (built-in configs: %s)", path, strings.Join(configs.BuiltinNames(), ", "))
}

// resolveConfig returns cfg when set, else the config at path.
func resolveConfig(cfg *configs.Config, path string) (*configs.Config, error) {
	if cfg != nil {
		return cfg, nil
	}
	if path == "" {
		path = DefaultConfig
	}
	return LoadConfig(path)
}
