package datasets

import (
	"fmt"
	"strings"
)

// Spec names a dataset split. Its text form is one of
//
//	mnist:train | mnist:test         MNIST, embedded in the binary
//	idx:DIR:train | idx:DIR:test     MNIST-layout IDX files in DIR
//	images:DIR:train | images:DIR:test  a folder of PNG/JPEG images
//
// DIR may itself contain colons; the kind is taken before the first colon
// and the split after the last.
type Spec struct {
	Kind  string // "mnist", "idx" or "images"
	Dir   string // "" for mnist
	Split string // "train" or "test"
}

// SpecForms lists the valid spec forms, for error and help messages.
const SpecForms = "mnist:train, mnist:test, idx:DIR:train, idx:DIR:test, images:DIR:train, images:DIR:test"

func (s Spec) String() string {
	if s.Kind == "mnist" {
		return "mnist:" + s.Split
	}
	return s.Kind + ":" + s.Dir + ":" + s.Split
}

// ParseSpec parses a dataset spec such as "mnist:train" or
// "images:photos/cats:test".
func ParseSpec(s string) (Spec, error) {
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("dataset spec %q: %s (valid forms: %s)", s, why, SpecForms)
	}
	first, last := strings.Index(s, ":"), strings.LastIndex(s, ":")
	if first < 0 {
		return bad("no split; add :train or :test")
	}
	sp := Spec{Kind: s[:first], Split: s[last+1:]}
	switch sp.Kind {
	case "mnist":
		if first != last {
			return bad("mnist takes no folder")
		}
	case "idx", "images":
		if first == last {
			return bad(sp.Kind + " needs a folder and a split")
		}
		sp.Dir = s[first+1 : last]
		if sp.Dir == "" {
			return bad("empty folder")
		}
	default:
		return bad(fmt.Sprintf("unknown kind %q", sp.Kind))
	}
	if sp.Split != "train" && sp.Split != "test" {
		return bad(fmt.Sprintf("unknown split %q, want train or test", sp.Split))
	}
	return sp, nil
}

// Options configures loading. Size and Channels apply to image folders only
// (IDX and MNIST images keep their own size, one channel); zero values mean
// 28 and 1, the MNIST shape the default models expect.
type Options struct {
	Size     int // square side in pixels after resize and centre crop
	Channels int // 1 (grayscale) or 3 (RGB)
}

func (o Options) withDefaults() (Options, error) {
	if o.Size == 0 {
		o.Size = 28
	}
	if o.Channels == 0 {
		o.Channels = 1
	}
	if o.Size < 1 || o.Size > 4096 {
		return o, fmt.Errorf("image size %d: want 1 to 4096", o.Size)
	}
	if o.Channels != 1 && o.Channels != 3 {
		return o, fmt.Errorf("image channels %d: want 1 or 3", o.Channels)
	}
	return o, nil
}

// Load parses spec and loads that split.
func Load(spec string, opt Options) (*Dataset, error) {
	sp, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return LoadSpec(sp, opt)
}

// LoadSpec loads a parsed spec.
func LoadSpec(sp Spec, opt Options) (*Dataset, error) {
	switch sp.Kind {
	case "mnist":
		return MNIST(sp.Split)
	case "idx":
		return loadIDXDir(sp.String(), sp.Dir, sp.Split)
	case "images":
		o, err := opt.withDefaults()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", sp, err)
		}
		return loadImageDir(sp.String(), sp.Dir, sp.Split, o)
	}
	return nil, fmt.Errorf("dataset spec %q: unknown kind %q (valid forms: %s)", sp, sp.Kind, SpecForms)
}
