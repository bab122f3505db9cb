// Package memguard refuses work that would not fit in memory before any of
// it is allocated, instead of letting the kernel's OOM killer end the
// process hours into a training with nothing but "Killed" on the screen.
//
// An Estimate adds up what a step of the work holds at its peak, in the
// terms the code allocates: the loaded images (float32 pixels), the
// model's parameters with their gradients and Adam's two moments, and its
// activations, which package nn keeps per layer (every layer owns its
// output at the largest batch it has seen, its gradients at the training
// batch, scratch per worker goroutine and per-chunk weight-gradient
// partials). Each term names the config keys that drive it.
//
// Available is the smallest of the memory limit of the process's cgroup
// (v2 memory.max or v1 memory.limit_in_bytes) less what the cgroup uses
// beyond reclaimable page cache, and the kernel's MemAvailable. Check
// refuses an estimate above it with an error (matching ErrTooBig) that
// gives both figures and the keys to lower. A check that passes also sets
// the Go runtime's soft memory limit to what is available (unless GOMEMLIMIT
// is set), so that garbage is collected before it, rather than the
// kernel's OOM killer, becomes the limit.
//
// VQGEN_MEMORY_LIMIT overrides the measurement: a size such as 512MiB or
// 8GB (or bytes) is taken as the memory available, off disables the guard.
// Tests set it low to see the refusal.
package memguard

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Env overrides the available memory (a size, or "off").
const Env = "VQGEN_MEMORY_LIMIT"

// ErrTooBig is what Check's refusal matches.
var ErrTooBig = errors.New("not enough memory")

// Available is memory the process may still use, and where the figure
// comes from.
type Available struct {
	Bytes  int64
	Source string // "MemAvailable in /proc/meminfo", "cgroup memory.max", "VQGEN_MEMORY_LIMIT"
	Off    bool   // VQGEN_MEMORY_LIMIT=off: nothing is refused
}

// ParseSize reads 123, 512MiB, 1.5GiB, 8GB, 100M ...: binary units whether
// written KiB or KB.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"tb", 1 << 40},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with KiB, MiB, GiB or TiB)", s)
	}
	return int64(v * mult), nil
}

// Measure returns the memory available to this process now.
func Measure() (Available, error) {
	if s := os.Getenv(Env); s != "" {
		if strings.EqualFold(strings.TrimSpace(s), "off") {
			return Available{Source: Env, Off: true}, nil
		}
		b, err := ParseSize(s)
		if err != nil {
			return Available{}, fmt.Errorf("%s: %w, or off", Env, err)
		}
		return Available{Bytes: b, Source: Env + "=" + s}, nil
	}
	a := Available{Bytes: math.MaxInt64}
	if b, ok := memAvailable("/proc/meminfo"); ok {
		a = Available{Bytes: b, Source: "MemAvailable in /proc/meminfo"}
	}
	if b, src, ok := cgroupAvailable("/proc/self/cgroup", "/sys/fs/cgroup"); ok && b < a.Bytes {
		a = Available{Bytes: b, Source: src}
	}
	if a.Source == "" {
		// No way to tell (not Linux): refuse nothing.
		return Available{Source: "unknown on this system", Off: true}, nil
	}
	return a, nil
}

// memAvailable reads MemAvailable (kB) from a meminfo file.
func memAvailable(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// cgroupAvailable is the tightest limit of the cgroups (v2, then v1
// memory) this process is in, and their parents up to the mount root, less
// their usage without reclaimable file cache.
func cgroupAvailable(procCgroup, root string) (int64, string, bool) {
	b, err := os.ReadFile(procCgroup)
	if err != nil {
		return 0, "", false
	}
	best, src, found := int64(math.MaxInt64), "", false
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var base, limitFile, usageFile, cacheKey string
		switch {
		case f[0] == "0" && f[1] == "":
			base, limitFile, usageFile, cacheKey = root, "memory.max", "memory.current", "inactive_file"
			if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
				base = filepath.Join(root, "unified") // hybrid hierarchy
			}
		case slices.Contains(strings.Split(f[1], ","), "memory"):
			base, limitFile, usageFile, cacheKey = filepath.Join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
		default:
			continue
		}
		// Inside a container the cgroup file names a path of the host;
		// the container sees its own cgroup at the mount root. Try the
		// named path and its parents, then the root.
		for dir := filepath.Join(base, f[2]); ; dir = filepath.Dir(dir) {
			if avail, ok := cgroupDir(dir, limitFile, usageFile, cacheKey); ok && avail < best {
				best, src, found = avail, "the memory limit of cgroup "+dir, true
			}
			if dir == base || !strings.HasPrefix(dir, base) {
				break
			}
		}
	}
	return best, src, found
}

func cgroupDir(dir, limitFile, usageFile, cacheKey string) (int64, bool) {
	lb, err := os.ReadFile(filepath.Join(dir, limitFile))
	if err != nil {
		return 0, false
	}
	ls := strings.TrimSpace(string(lb))
	if ls == "max" {
		return 0, false
	}
	limit, err := strconv.ParseInt(ls, 10, 64)
	if err != nil || limit >= 1<<60 { // v1 writes "unlimited" as a page-rounded MaxInt64
		return 0, false
	}
	var usage int64
	if ub, err := os.ReadFile(filepath.Join(dir, usageFile)); err == nil {
		usage, _ = strconv.ParseInt(strings.TrimSpace(string(ub)), 10, 64)
	}
	if sb, err := os.ReadFile(filepath.Join(dir, "memory.stat")); err == nil {
		for _, l := range strings.Split(string(sb), "\n") {
			if v, ok := strings.CutPrefix(l, cacheKey+" "); ok {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				usage -= c
			}
		}
	}
	return max(0, limit-max(0, usage)), true
}

// TooBigError is Check's refusal.
type TooBigError struct {
	Need  Estimate
	Avail Available
}

func (e *TooBigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s needs about %s of memory, but %s is available (%s):", e.Need.Task, Size(e.Need.Total()), Size(e.Avail.Bytes), e.Avail.Source)
	parts := slices.Clone(e.Need.Parts)
	slices.SortStableFunc(parts, func(a, b Part) int { return cmp.Compare(b.Bytes, a.Bytes) })
	for i, p := range parts {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s %s", p.What, Size(p.Bytes))
		if len(p.Keys) > 0 && p.Bytes >= e.Need.Total()/10 {
			fmt.Fprintf(&b, " [%s]", strings.Join(p.Keys, ", "))
		}
	}
	fmt.Fprintf(&b, ". Lower the keys in brackets, or free memory (%s=off skips this check)", Env)
	return b.String()
}

func (e *TooBigError) Unwrap() error { return ErrTooBig }

// Size formats bytes for people: 1.5 GiB, 300 MiB.
func Size(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (b+1023)>>10)
}

// Check refuses the largest of the estimates if it exceeds the memory
// available. When they fit it sets the runtime's soft memory limit (see
// the package comment).
func Check(es ...Estimate) error {
	if len(es) == 0 {
		return nil
	}
	a, err := Measure()
	if err != nil {
		return err
	}
	if a.Off {
		return nil
	}
	top := es[0]
	for _, e := range es[1:] {
		if e.Total() > top.Total() {
			top = e
		}
	}
	if top.Total() > a.Bytes {
		return &TooBigError{Need: top, Avail: a}
	}
	if os.Getenv("GOMEMLIMIT") == "" && a.Bytes < math.MaxInt64/4 {
		// What the process holds already is not in the available figure.
		debug.SetMemoryLimit(a.Bytes + heldNow())
	}
	return nil
}

// heldNow is the memory the Go runtime holds from the system now.
func heldNow() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.Sys - m.HeapReleased)
}
