package app

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
)

// withData resolves --data and --test over a config's data.
func TestWithData(t *testing.T) {
	preset := configs.Default()
	preset.Data.Train, preset.Data.Test = "", ""
	mnist := configs.Default()
	for _, tt := range []struct {
		cfg                    *configs.Config
		data, test             string
		wantTrain, wantTest    string
		wantErr, wantErrOption string
	}{
		{preset, "images:pics", "", "images:pics:train", "images:pics:test", "", ""},
		{preset, "images:pics", "images:held", "images:pics", "images:held", "", ""},
		{preset, "images:pics:train", "", "images:pics:train", "images:pics:test", "", ""},
		{preset, "images:pics:test", "images:x:test", "images:pics:test", "images:x:test", "", ""},
		{preset, "mnist:train", "", "mnist:train", "mnist:test", "", ""},
		{preset, "idx:d:train", "", "idx:d:train", "idx:d:test", "", ""},
		{mnist, "", "", "mnist:train", "mnist:test", "", ""},
		{mnist, "", "images:held", "mnist:train", "images:held", "", ""},
		{mnist, "images:a", "", "images:a:train", "images:a:test", "", ""},
		{preset, "", "", "", "", "not given, and the config P names no training images", "data"},
		{preset, "", "images:held", "", "", "not given, and the config P names no training images", "data"},
		{preset, "pics", "", "", "", `dataset spec "pics"`, "data"},
		{preset, "images:pics", "held", "", "", `dataset spec "held"`, "test"},
	} {
		name := fmt.Sprintf("data=%q,test=%q", tt.data, tt.test)
		got, err := withData(tt.cfg, "P", DataFlags{Data: tt.data, Test: tt.test})
		if tt.wantErr != "" {
			var oe *OptionError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &oe) || oe.Option != tt.wantErrOption {
				t.Errorf("%s: %v, want an error of option %s saying %q", name, err, tt.wantErrOption, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.Data.Train != tt.wantTrain || got.Data.Test != tt.wantTest {
			t.Errorf("%s: train %q, test %q; want %q, %q", name, got.Data.Train, got.Data.Test, tt.wantTrain, tt.wantTest)
		}
		if tt.cfg.Data.Train != map[bool]string{true: "", false: "mnist:train"}[tt.cfg == preset] {
			t.Fatalf("%s changed the config given", name)
		}
	}
}
