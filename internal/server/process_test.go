//go:build unix

package server

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vqgen/vqgen/app"
)

// slow delays every sample by a fixed time (returning early when
// cancelled), so a job is surely running when the signal comes.
type slow struct {
	Backend
	delay time.Duration
}

func (s slow) Sample(ctx context.Context, opt app.SampleOptions, progress app.Progress) (*Result, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Backend.Sample(ctx, opt, progress)
}

// serveChild is the server process of TestSIGTERM: the tiny models behind
// ListenAndServe, stopped by SIGTERM as `vqgen serve` is.
func serveChild() int {
	dir := os.Getenv("VQGEN_SERVE_TEST_MODELS")
	b, err := Open(filepath.Join(dir, app.VQVAEFile), filepath.Join(dir, app.PriorFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	delay, _ := time.ParseDuration(os.Getenv("VQGEN_SERVE_CHILD_DELAY"))
	grace, _ := time.ParseDuration(os.Getenv("VQGEN_SERVE_CHILD_GRACE"))
	s := New(slow{b, delay}, Config{Grace: grace, Log: os.Stderr})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = s.ListenAndServe(ctx, "127.0.0.1:0", func(url string) { fmt.Println(url) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("exited cleanly")
	return 0
}

// TestSIGTERM starts the server as a process, gives it a job, and sends
// SIGTERM while the job runs: a job that ends within the grace period
// delivers its result, one that does not is cancelled, and either way the
// process exits 0.
func TestSIGTERM(t *testing.T) {
	tinyModels(t)
	for _, c := range []struct {
		name         string
		delay, grace time.Duration
		state        string
	}{
		{"finishes", 700 * time.Millisecond, 20 * time.Second, stateDone},
		{"cancelled", time.Minute, 300 * time.Millisecond, stateCancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "VQGEN_SERVE_CHILD=1", "VQGEN_SERVE_TEST_MODELS="+tiny.dir,
				"VQGEN_SERVE_CHILD_DELAY="+c.delay.String(), "VQGEN_SERVE_CHILD_GRACE="+c.grace.String())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(out)
			if !lines.Scan() {
				t.Fatalf("no URL from the server: %s", stderr.String())
			}
			url := strings.TrimSuffix(lines.Text(), "/")

			running, r := submitSample(t, url)
			if r.status != 202 {
				t.Fatalf("submit: %d %s", r.status, r.body)
			}
			waitState(t, url, running.ID, stateRunning)
			queued, _ := submitSample(t, url)
			// Clients long-polling both jobs see how they end.
			ends := make(chan jobJSON, 2)
			for _, id := range []string{running.ID, queued.ID} {
				go func() {
					var j jobJSON
					get(t, url+"/api/jobs/"+id+"?wait=1").json(t, &j)
					ends <- j
				}()
			}
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				j := <-ends
				want := stateCancelled // the queued job
				if j.ID == running.ID {
					want = c.state
				}
				if j.State != want {
					t.Errorf("job %s (%s) ended %s, want %s", j.ID, map[bool]string{true: "running", false: "queued"}[j.ID == running.ID], j.State, want)
				}
				if j.State == stateDone && len(j.Items) != 1 {
					t.Errorf("finished job has %d items", len(j.Items))
				}
			}
			done := make(chan error, 1)
			go func() {
				for lines.Scan() {
					if lines.Text() == "exited cleanly" {
						break
					}
				}
				done <- cmd.Wait()
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit: %v\n%s", err, stderr.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the server did not exit\n%s", stderr.String())
			}
			t.Logf("exited %.2fs after SIGTERM", time.Since(start).Seconds())
			if !strings.Contains(stderr.String(), "sample "+running.ID+" "+c.state) {
				t.Errorf("the log does not say the job was %s:\n%s", c.state, stderr.String())
			}
		})
	}
}
