//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

var crashSeed = flag.Uint64("crash.seed", 1, "seed of TestKill9Resume's choice of moments")

// crashStages are the stages of vqgen run the kill -9 test dies in, each
// at least twice.
var crashStages = []string{"stage1", "encode", "prior", "sample", "edit", "report"}

const crashKills = 20

// vqgenChild runs this test binary as the vqgen command (see TestMain) with
// args and extra environment; it returns standard error and how the process
// ended.
func vqgenChild(t *testing.T, env []string, args ...string) (stderr string, state *os.ProcessState) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), asMainEnv+"=1"), env...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("vqgen %s: %v", strings.Join(args, " "), err)
	}
	return errBuf.String(), cmd.ProcessState
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// crashMoment is one kill: the Nth moment (see internal/crashpoint) of
// stage in the process that runs.
type crashMoment struct {
	stage string
	n     int
}

// resumesMidStage are the stages a resumed run continues from a checkpoint
// (the trainings); every other stage starts over.
var resumesMidStage = map[string]bool{"stage1": true, "prior": true}

// planCrashes chooses kills distinct moments of an uninterrupted run
// (counts: moments per stage) with rng, at least two in each of
// crashStages. A stage that starts over meets the same moments again, so
// its kills name them as they are; a training resumed from its last
// checkpoint redoes at least the moments that were left when the previous
// process died, so each kill after the first in such a stage is counted
// from the previous one, and always exists.
func planCrashes(counts map[string]int, kills int, rng *rand.Rand) ([]crashMoment, error) {
	per := map[string]int{}
	for _, s := range crashStages {
		if counts[s] < 2 {
			return nil, fmt.Errorf("stage %s has %d moments, want at least 2", s, counts[s])
		}
		per[s] = 2
	}
	for extra := kills - 2*len(crashStages); extra > 0; {
		s := crashStages[rng.IntN(len(crashStages))]
		if per[s] < counts[s] {
			per[s]++
			extra--
		}
	}
	var plan []crashMoment
	for _, s := range crashStages {
		at := rng.Perm(counts[s])[:per[s]]
		slices.Sort(at)
		prev := 0
		for _, a := range at {
			plan = append(plan, crashMoment{s, a + 1 - prev})
			if resumesMidStage[s] {
				prev = a + 1
			}
		}
	}
	return plan, nil
}

// TestKill9Resume kills `vqgen run --config tiny` with SIGKILL at 20
// moments chosen by a seeded generator (-crash.seed), in every stage,
// resuming after each, and checks that the run ends exactly as one that
// was never interrupted: the same checkpoint tensors, code files, pictures
// and report figures, and no temporary file left.
func TestKill9Resume(t *testing.T) {
	tmp := t.TempDir()
	ref, dir := filepath.Join(tmp, "ref"), filepath.Join(tmp, "run")

	stderr, st := vqgenChild(t, []string{"VQGEN_CRASH_AT=count"}, "run", "--config", "tiny", "--out", ref)
	if !st.Success() {
		t.Fatalf("uninterrupted run: %v\n%s", st, tail(stderr, 2000))
	}
	counts := map[string]int{}
	for _, line := range strings.Split(stderr, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "crashpoint:" {
			counts[f[1]], _ = strconv.Atoi(f[2])
		}
	}
	plan, err := planCrashes(counts, crashKills, rand.New(rand.NewPCG(*crashSeed, 17)))
	if err != nil {
		t.Fatalf("%v (moments per stage: %v)", err, counts)
	}
	t.Logf("moments per stage %v; kills %v", counts, plan)

	for i, m := range plan {
		at := fmt.Sprintf("VQGEN_CRASH_AT=%s:%d", m.stage, m.n)
		stderr, st := vqgenChild(t, []string{at}, "run", "--config", "tiny", "--out", dir)
		ws, _ := st.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d (%s): the run ended with %v instead of dying\n%s", i+1, at, st, tail(stderr, 2000))
		}
	}
	stderr, st = vqgenChild(t, nil, "run", "--config", "tiny", "--out", dir)
	if !st.Success() {
		t.Fatalf("the run resumed after %d kills failed: %v\n%s", len(plan), st, tail(stderr, 2000))
	}

	for _, f := range []string{"vqvae.safetensors", "last.safetensors", "prior.safetensors", "prior/prior.safetensors", "prior/prior-last.safetensors"} {
		if diff := sameTensors(t, filepath.Join(ref, f), filepath.Join(dir, f)); diff != "" {
			t.Errorf("%s: tensor %s differs from the uninterrupted run's", f, diff)
		}
	}
	for _, f := range []string{"codes-train.vqc", "codes-test.vqc", "samples.png", "samples-by-class.png", "edits.png", "recon.png"} {
		if !sameFile(t, filepath.Join(ref, f), filepath.Join(dir, f)) {
			t.Errorf("%s differs from the uninterrupted run's", f)
		}
	}
	want, got := withoutTimings(readJSON(t, filepath.Join(ref, "report.json"))), withoutTimings(readJSON(t, filepath.Join(dir, "report.json")))
	if !reflect.DeepEqual(want, got) {
		w, _ := json.MarshalIndent(want, "", " ")
		g, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("report.json figures differ from the uninterrupted run's:\nwant %s\ngot  %s", w, g)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

// withoutTimings drops the report's wall times and speeds, which no two
// runs share.
func withoutTimings(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k == "seconds" || strings.HasSuffix(k, "_seconds") || strings.HasSuffix(k, "_per_s") {
				continue
			}
			out[k] = withoutTimings(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutTimings(e)
		}
		return out
	}
	return v
}
