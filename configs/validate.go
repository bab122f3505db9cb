package configs

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Problem is one thing wrong with a configuration, tied to the key at fault.
type Problem struct {
	Key   string // dotted key, e.g. "vqvae.k"
	Value string // the offending value as written, empty when there is none
	Msg   string
}

func (p Problem) String() string {
	if p.Value == "" {
		return p.Key + ": " + p.Msg
	}
	return p.Key + " = " + p.Value + ": " + p.Msg
}

// Error lists every problem found in one configuration, so a user fixes
// them in one go rather than one run at a time.
type Error struct {
	Source   string // file name or other label; may be empty
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.Source != "" {
			b.WriteString(e.Source)
			b.WriteString(": ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate checks every range and cross-field rule. The error, when not
// nil, is an *Error naming each offending key.
func (c *Config) Validate() error { return c.validate("") }

func (c *Config) validate(source string) error {
	var v checker
	v.uintMax("seed", c.Seed, math.MaxInt64) // larger seeds cannot be written back as TOML

	d := c.Data
	// "" leaves the data to the command (vqgen run --data), as the photo
	// presets do; blanks are a mistake.
	v.notBlank("data.train", d.Train)
	v.notBlank("data.test", d.Test)
	v.intMin("data.val_count", d.ValCount, 0)
	v.intMin("data.train_limit", d.TrainLimit, 0)
	v.intMin("data.test_limit", d.TestLimit, 0)
	v.intRange("data.image_size", d.ImageSize, 1, 4096)
	v.oneOfInt("data.channels", d.Channels, 1, 3)
	v.oneOf("data.labels", d.Labels, "folders", "none")
	if d.TrainLimit > 0 && d.ValCount >= d.TrainLimit {
		v.add("data.val_count", fmtInt(d.ValCount), fmt.Sprintf("leaves no training images from data.train_limit = %d", d.TrainLimit))
	}

	q := c.VQVAE
	v.intMin("vqvae.hidden", q.Hidden, 1)
	v.intMin("vqvae.res_hidden", q.ResHidden, 1)
	v.intMin("vqvae.res_blocks", q.ResBlocks, 0)
	if v.oneOfInt("vqvae.downsample", q.Downsample, 2, 4, 8) && d.ImageSize > 0 && d.ImageSize%q.Downsample != 0 {
		v.add("data.image_size", fmtInt(d.ImageSize), fmt.Sprintf("not divisible by vqvae.downsample = %d", q.Downsample))
	}
	// Code files store indices as uint16.
	v.intRange("vqvae.k", q.K, 2, 65536)
	v.intMin("vqvae.d", q.D, 1)
	v.floatRange("vqvae.beta", q.Beta, 0, math.Inf(1), false, true)
	v.oneOf("vqvae.codebook", q.Codebook, "ema", "gradient")
	v.floatRange("vqvae.ema_decay", q.EMADecay, 0, 1, true, true)
	v.floatRange("vqvae.ema_eps", q.EMAEps, 0, math.Inf(1), true, true)
	v.intMin("vqvae.init_batches", q.InitBatches, 1)
	v.intMin("vqvae.init_kmeans_iters", q.InitKMeansIters, 0)
	v.intMin("vqvae.dead_after", q.DeadAfter, 1)
	t := q.Train
	v.schedule("vqvae.train", t.Steps, t.Batch, t.Warmup, t.LR, t.LRMin, t.GradClip, t.EvalEvery, t.CheckpointEvery, t.LogEvery)
	v.intMin("vqvae.train.eval_images", t.EvalImages, 1)
	if d.ValCount > 0 && t.EvalImages > d.ValCount {
		v.add("vqvae.train.eval_images", fmtInt(t.EvalImages), fmt.Sprintf("more than the data.val_count = %d validation images", d.ValCount))
	}

	p := c.Prior
	v.oneOf("prior.arch", p.Arch, "pixelcnn", "transformer")
	if p.Conditional > SwitchOn {
		v.add("prior.conditional", p.Conditional.String(), `must be true, false or "auto"`)
	}
	v.intMin("prior.val_count", p.ValCount, 0)
	if d.TrainLimit > 0 && p.ValCount >= d.TrainLimit {
		v.add("prior.val_count", fmtInt(p.ValCount), fmt.Sprintf("leaves no training grids from data.train_limit = %d", d.TrainLimit))
	}
	pc := p.PixelCNN
	v.intMin("prior.pixelcnn.layers", pc.Layers, 1)
	v.intMin("prior.pixelcnn.channels", pc.Channels, 1)
	if v.intRange("prior.pixelcnn.kernel", pc.Kernel, 3, 15) && pc.Kernel%2 == 0 {
		v.add("prior.pixelcnn.kernel", fmtInt(pc.Kernel), "must be odd, so the mask has a centre")
	}
	v.intMin("prior.pixelcnn.embed", pc.Embed, 1)
	v.intMin("prior.pixelcnn.head_hidden", pc.HeadHidden, 1)
	tr := p.Transformer
	v.intMin("prior.transformer.layers", tr.Layers, 1)
	v.intMin("prior.transformer.dim", tr.Dim, 1)
	if v.intMin("prior.transformer.heads", tr.Heads, 1) && tr.Dim > 0 && tr.Dim%tr.Heads != 0 {
		v.add("prior.transformer.dim", fmtInt(tr.Dim), fmt.Sprintf("not divisible by prior.transformer.heads = %d", tr.Heads))
	}
	v.intMin("prior.transformer.mlp_mult", tr.MLPMult, 1)
	pt := p.Train
	v.schedule("prior.train", pt.Steps, pt.Batch, pt.Warmup, pt.LR, pt.LRMin, pt.GradClip, pt.EvalEvery, pt.CheckpointEvery, pt.LogEvery)
	v.floatRange("prior.train.weight_decay", pt.WeightDecay, 0, math.Inf(1), false, true)
	v.floatRange("prior.train.class_dropout", pt.ClassDropout, 0, 1, false, true)

	s := c.Sample
	v.intMin("sample.n", s.N, 1)
	v.floatRange("sample.temperature", s.Temperature, 0, math.Inf(1), true, true)
	if v.intMin("sample.top_k", s.TopK, 0) && q.K >= 2 && s.TopK > q.K {
		v.add("sample.top_k", fmtInt(s.TopK), fmt.Sprintf("more than the vqvae.k = %d codes", q.K))
	}
	v.floatRange("sample.top_p", s.TopP, 0, 1, true, false)
	v.floatRange("sample.guidance", s.Guidance, 0, math.Inf(1), false, true)
	v.uintMax("sample.seed", s.Seed, math.MaxInt64)

	e := c.Edit
	v.oneOf("edit.method", e.Method, "gibbs", "raster")
	v.intMin("edit.sweeps", e.Sweeps, 1)
	v.intMin("edit.n", e.N, 1)

	v.intMin("run.eval_samples", c.Run.EvalSamples, 0)
	v.intMin("run.per_class", c.Run.PerClass, 0)

	if len(v.probs) > 0 {
		return &Error{Source: source, Problems: v.probs}
	}
	return nil
}

// checker collects problems; each check reports whether the value passed so
// cross-field checks can skip values already known to be wrong.
type checker struct{ probs []Problem }

func (v *checker) add(key, val, msg string) {
	v.probs = append(v.probs, Problem{Key: key, Value: val, Msg: msg})
}

func fmtInt(x int) string       { return fmt.Sprint(x) }
func fmtFloat(x float64) string { return fmt.Sprint(x) }

func (v *checker) intMin(key string, x, lo int) bool {
	if x < lo {
		v.add(key, fmtInt(x), fmt.Sprintf("must be >= %d", lo))
		return false
	}
	return true
}

func (v *checker) intRange(key string, x, lo, hi int) bool {
	if x < lo || x > hi {
		v.add(key, fmtInt(x), fmt.Sprintf("must be in [%d, %d]", lo, hi))
		return false
	}
	return true
}

func (v *checker) uintMax(key string, x, hi uint64) {
	if x > hi {
		v.add(key, fmt.Sprint(x), fmt.Sprintf("must be <= %d", hi))
	}
}

func (v *checker) oneOfInt(key string, x int, allowed ...int) bool {
	for _, a := range allowed {
		if x == a {
			return true
		}
	}
	s := make([]string, len(allowed))
	for i, a := range allowed {
		s[i] = fmtInt(a)
	}
	v.add(key, fmtInt(x), "must be one of "+strings.Join(s, ", "))
	return false
}

func (v *checker) oneOf(key, x string, allowed ...string) bool {
	for _, a := range allowed {
		if x == a {
			return true
		}
	}
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = fmt.Sprintf("%q", a)
	}
	v.add(key, fmt.Sprintf("%q", x), "must be one of "+strings.Join(q, ", "))
	return false
}

func (v *checker) notBlank(key, x string) {
	if x != "" && strings.TrimSpace(x) == "" {
		v.add(key, fmt.Sprintf("%q", x), "must not be blank (\"\" leaves it to the command line)")
	}
}

// floatRange checks lo < x < hi, with either end closed on request; NaN and
// infinities never pass.
func (v *checker) floatRange(key string, x, lo, hi float64, loOpen, hiOpen bool) bool {
	ok := !math.IsNaN(x) && !math.IsInf(x, 0)
	if ok {
		if loOpen {
			ok = x > lo
		} else {
			ok = x >= lo
		}
	}
	if ok && !math.IsInf(hi, 1) {
		if hiOpen {
			ok = x < hi
		} else {
			ok = x <= hi
		}
	}
	if ok {
		return true
	}
	var msg string
	switch {
	case math.IsInf(hi, 1) && loOpen:
		msg = fmt.Sprintf("must be a finite number > %g", lo)
	case math.IsInf(hi, 1):
		msg = fmt.Sprintf("must be a finite number >= %g", lo)
	default:
		l, r := "[", "]"
		if loOpen {
			l = "("
		}
		if hiOpen {
			r = ")"
		}
		msg = fmt.Sprintf("must be in %s%g, %g%s", l, lo, hi, r)
	}
	v.add(key, fmtFloat(x), msg)
	return false
}

// schedule checks the keys shared by both training sections.
func (v *checker) schedule(sec string, steps, batch, warmup int, lr, lrMin, clip float64, evalEvery, ckptEvery, logEvery int) {
	v.intMin(sec+".steps", steps, 1)
	v.intMin(sec+".batch", batch, 1)
	if v.intMin(sec+".warmup", warmup, 0) && steps >= 1 && warmup > steps {
		v.add(sec+".warmup", fmtInt(warmup), fmt.Sprintf("longer than %s.steps = %d", sec, steps))
	}
	lrOK := v.floatRange(sec+".lr", lr, 0, math.Inf(1), true, true)
	if v.floatRange(sec+".lr_min", lrMin, 0, math.Inf(1), false, true) && lrOK && lrMin > lr {
		v.add(sec+".lr_min", fmtFloat(lrMin), fmt.Sprintf("greater than %s.lr = %g", sec, lr))
	}
	v.floatRange(sec+".grad_clip", clip, 0, math.Inf(1), false, true)
	v.intMin(sec+".eval_every", evalEvery, 0)
	v.intMin(sec+".checkpoint_every", ckptEvery, 0)
	v.intMin(sec+".log_every", logEvery, 1)
}

// checkTree walks the generic TOML tree against Config's fields, reporting
// unknown keys (matched exactly: the decoder would also accept a key that
// differs only in case) and values of the wrong type.
func checkTree(tree map[string]any, _ string) []Problem {
	return checkTable(tree, reflect.TypeFor[Config](), "")
}

func checkTable(m map[string]any, t reflect.Type, prefix string) []Problem {
	var probs []Problem
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := m[k]
		path := prefix + k
		f, ok := fieldByTag(t, k)
		if !ok {
			probs = append(probs, unknownKey(path))
			continue
		}
		if f.Type == reflect.TypeFor[Switch]() {
			if _, err := switchFrom(val); err != nil {
				probs = append(probs, Problem{path, showValue(val), err.Error()})
			}
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			sub, ok := val.(map[string]any)
			if !ok {
				probs = append(probs, Problem{path, showValue(val), "want a table, got " + tomlType(val)})
				continue
			}
			probs = append(probs, checkTable(sub, f.Type, path+".")...)
			continue
		}
		if msg := checkScalar(f.Type.Kind(), val); msg != "" {
			probs = append(probs, Problem{path, showValue(val), msg})
		}
	}
	return probs
}

func checkScalar(kind reflect.Kind, val any) string {
	switch kind {
	case reflect.String:
		if _, ok := val.(string); !ok {
			return "want a string, got " + tomlType(val)
		}
	case reflect.Bool:
		if _, ok := val.(bool); !ok {
			return "want true or false, got " + tomlType(val)
		}
	case reflect.Int:
		n, ok := val.(int64)
		if !ok {
			return "want an integer, got " + tomlType(val)
		}
		if int64(int(n)) != n {
			return "out of range for an integer"
		}
	case reflect.Uint64:
		n, ok := val.(int64)
		if !ok {
			return "want an integer, got " + tomlType(val)
		}
		if n < 0 {
			return "must be >= 0"
		}
	case reflect.Float64:
		switch val.(type) {
		case float64, int64:
		default:
			return "want a number, got " + tomlType(val)
		}
	default:
		return fmt.Sprintf("internal: unsupported field kind %v", kind)
	}
	return ""
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("toml") == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

func showValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any:
		return "{...}"
	case []any, []map[string]any:
		return "[...]"
	}
	return fmt.Sprint(v)
}

// Keys lists every leaf key of the schema in dotted form, in field order.
func Keys() []string { return schemaPaths(false) }

// allPaths is Keys plus the table names.
func allPaths() []string { return schemaPaths(true) }

func schemaPaths(tables bool) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := prefix + f.Tag.Get("toml")
			if f.Type.Kind() == reflect.Struct {
				if tables {
					out = append(out, name)
				}
				walk(f.Type, name+".")
			} else {
				out = append(out, name)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}

func unknownKey(path string) Problem {
	p := Problem{Key: path, Msg: "unknown key"}
	if s := suggest(path); s != "" {
		p.Msg += "; did you mean " + s + "?"
	}
	return p
}

// suggest finds the known key a typo most likely meant: a near miss on the
// whole path, else the same leaf name in another section (a key put under
// the wrong table).
func suggest(path string) string {
	keys := allPaths()
	for _, k := range keys {
		if strings.EqualFold(k, path) {
			return k
		}
	}
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(path, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	leaf := path[strings.LastIndexByte(path, '.')+1:]
	for _, k := range keys {
		if strings.HasSuffix(k, "."+leaf) || k == leaf {
			return k
		}
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
