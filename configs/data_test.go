package configs

import (
	"strings"
	"testing"
)

// prior.conditional takes true, false or "auto", and a config with any of
// them encodes and parses back to itself.
func TestConditionalSwitch(t *testing.T) {
	for doc, want := range map[string]Switch{
		"[prior]\nconditional = true":     SwitchOn,
		"[prior]\nconditional = false":    SwitchOff,
		"[prior]\nconditional = \"auto\"": SwitchAuto,
		"":                                SwitchOn, // the default, as configs/mnist.toml says
	} {
		c, err := Parse([]byte(doc), "x.toml")
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c.Prior.Conditional != want {
			t.Fatalf("%q: conditional %v, want %v", doc, c.Prior.Conditional, want)
		}
		text, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(text, "encoded")
		if err != nil {
			t.Fatalf("%q: encoded config does not parse: %v\n%s", doc, err, text)
		}
		if *back != *c {
			t.Fatalf("%q: round trip changed the config", doc)
		}
	}
	if !SwitchAuto.On(true) || SwitchAuto.On(false) || !SwitchOn.On(false) || SwitchOff.On(true) {
		t.Fatal("Switch.On")
	}
}

func photosFacts(classes int) DataFacts {
	return DataFacts{
		Train: DataSplit{Spec: "images:photos:train", Images: 9000, Classes: classes},
		Test:  DataSplit{Spec: "images:photos:test", Images: 1000, Classes: classes},
	}
}

func photoConfig(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte("[data]\ntrain = \"images:photos:train\"\ntest = \"images:photos:test\"\nimage_size = 32\nchannels = 3\nval_count = 1000\n"+doc), "photos.toml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The config is checked against the data before any training: a
// class-conditional prior over an unlabelled folder is refused naming both
// keys, and "auto" resolves from the data.
func TestCheckData(t *testing.T) {
	c := photoConfig(t, "[prior]\nconditional = true\n")
	_, err := c.CheckData(photosFacts(0))
	if err == nil || !strings.Contains(err.Error(), "prior.conditional = true") || !strings.Contains(err.Error(), "data.train = images:photos:train has no labels") ||
		!strings.Contains(err.Error(), `"auto"`) {
		t.Fatalf("conditional prior on unlabelled data: %v", err)
	}
	c = photoConfig(t, "[prior]\nconditional = true\n")
	c.Data.Labels = "none"
	if _, err := c.CheckData(photosFacts(0)); err == nil || !strings.Contains(err.Error(), `data.labels = "none" drops them`) {
		t.Fatalf("labels none: %v", err)
	}
	for classes, want := range map[int]Switch{0: SwitchOff, 4: SwitchOn} {
		c := photoConfig(t, "[prior]\nconditional = \"auto\"\n")
		r, err := c.CheckData(photosFacts(classes))
		if err != nil {
			t.Fatal(err)
		}
		if r.Prior.Conditional != want || c.Prior.Conditional != SwitchAuto {
			t.Fatalf("auto with %d classes resolved to %v (input now %v)", classes, r.Prior.Conditional, c.Prior.Conditional)
		}
	}
	// Old configs keep their meaning: false needs no labels, true on
	// labelled data passes.
	if _, err := photoConfig(t, "[prior]\nconditional = false\n").CheckData(photosFacts(0)); err != nil {
		t.Fatal(err)
	}
	if r, err := Default().CheckData(DataFacts{
		Train: DataSplit{Spec: "mnist:train", Images: 60000, Classes: 10, H: 28, W: 28, C: 1},
		Test:  DataSplit{Spec: "mnist:test", Images: 10000, Classes: 10, H: 28, W: 28, C: 1},
	}); err != nil || r.Prior.Conditional != SwitchOn {
		t.Fatalf("default config on MNIST: %v", err)
	}

	cases := []struct {
		name  string
		doc   string
		facts DataFacts
		want  []string
	}{
		{"unlabelled test set", "", DataFacts{Train: DataSplit{Spec: "images:a", Images: 900, Classes: 3}, Test: DataSplit{Spec: "images:b", Images: 90}},
			[]string{`data.test = "images:b": has no labels, but the prior is class-conditional`}},
		{"other classes", "", DataFacts{Train: DataSplit{Spec: "images:a", Images: 900, Classes: 3}, Test: DataSplit{Spec: "images:b", Images: 90, Classes: 2}},
			[]string{`has 2 classes, data.train = images:a has 3`}},
		{"fixed size", "[prior]\nconditional = false\n", DataFacts{Train: DataSplit{Spec: "mnist:train", Images: 60000, Classes: 10, H: 28, W: 28, C: 1}, Test: photosFacts(0).Test},
			[]string{"data.image_size = 32: data.train = mnist:train has 28x28 images", "set data.image_size = 28", "data.channels = 3: data.train = mnist:train has 1-channel images"}},
		{"too few images", "[prior]\nconditional = false\nval_count = 700\n", DataFacts{Train: DataSplit{Spec: "images:a", Images: 600}, Test: DataSplit{Spec: "images:b", Images: 9}},
			[]string{"data.val_count = 1000: leaves no training images: data.train = images:a has 600", "prior.val_count = 700: leaves no training grids"}},
		{"batch too big", "[prior]\nconditional = false\n[vqvae.train]\nbatch = 128\n", DataFacts{Train: DataSplit{Spec: "images:a", Images: 1100}, Test: DataSplit{Spec: "images:b", Images: 9}},
			[]string{"vqvae.train.batch = 128: more than the 100 training images"}},
		{"empty test", "[prior]\nconditional = false\n", DataFacts{Train: DataSplit{Spec: "images:a", Images: 6000}, Test: DataSplit{Spec: "images:b"}},
			[]string{`data.test = "images:b": has no images`}},
	}
	for _, tt := range cases {
		_, err := photoConfig(t, tt.doc).CheckData(tt.facts)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v\nlacks %q", tt.name, err, w)
			}
		}
	}
}
