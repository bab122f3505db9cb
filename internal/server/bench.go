package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vqgen/vqgen/app"
)

// Benchmarks are the `vqgen bench` lines of the web server: what a user of
// the page waits for, measured through the HTTP API of a server started in
// this process on a loopback port over the pair open returns (called once,
// when the first line runs), with the server's default limits. Each line
// sends one request to warm the models, then repeats it with a new seed
// for at least the given time (three times at least) and reports the
// median seconds per request. stop shuts the server down.
func Benchmarks(open func() (Backend, error)) (lines []app.Benchmark, stop func()) {
	var (
		once sync.Once
		bs   *benchServer
		err  error
	)
	start := func() (*benchServer, error) {
		once.Do(func() {
			var b Backend
			if b, err = open(); err == nil {
				bs, err = startBench(b)
			}
		})
		return bs, err
	}
	line := func(name, what string, request func(*benchServer) (path string, body func(seed int) any, err error)) app.Benchmark {
		return app.Benchmark{Name: name, Unit: "s", What: what, Run: func(d time.Duration) (float64, error) {
			bs, err := start()
			if err != nil {
				return 0, err
			}
			path, body, err := request(bs)
			if err != nil {
				return 0, err
			}
			return medianSeconds(d, func(seed int) error { return bs.post(path, body(seed)) })
		}}
	}
	lines = []app.Benchmark{
		line("serve_edit_3x3_8variants_s", "POST /api/edit?wait=1: a 3x3-cell hole in the middle of test image 0 redrawn as 8 variants, the run's default method, warm",
			(*benchServer).editRequest),
		line("serve_sample_16_s", "POST /api/sample?wait=1: 16 images with the run's default settings, warm",
			func(*benchServer) (string, func(int) any, error) {
				return "/api/sample?wait=1", func(seed int) any { return map[string]any{"n": 16, "seed": seed} }, nil
			}),
	}
	return lines, func() {
		if bs != nil {
			bs.stop()
		}
	}
}

// benchServer is a server on a loopback port and a client for it.
type benchServer struct {
	url    string
	info   Info
	client *http.Client
	stop   func()
}

func startBench(b Backend) (*benchServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- New(b, Config{}).Serve(ctx, ln, ln.Addr().String()) }()
	return &benchServer{url: "http://" + ln.Addr().String(), info: b.Info(), client: &http.Client{},
		stop: func() { cancel(); <-served }}, nil
}

// editRequest builds the edit benchmark's request from test image 0, as
// the page gets it: its codes through the API, the hole vqgen run redraws
// in its edit picture, the image's label as the class.
func (bs *benchServer) editRequest() (string, func(int) any, error) {
	res, err := bs.client.Get(bs.url + "/api/test-images/0")
	if err != nil {
		return "", nil, err
	}
	var pic pictureJSON
	err = decodeResponse(res, &pic)
	if err != nil {
		return "", nil, fmt.Errorf("test image 0: %w", err)
	}
	keep, _ := bs.info.CentreHole()
	var redraw [][]int
	for i, k := range keep {
		if !k {
			redraw = append(redraw, []int{i / bs.info.GridW, i % bs.info.GridW})
		}
	}
	return "/api/edit?wait=1", func(seed int) any {
		body := map[string]any{"codes": pic.Codes, "redraw": redraw, "n": 8, "seed": seed}
		if bs.info.Classes > 0 && pic.Label != nil {
			body["class"] = *pic.Label
		}
		return body
	}, nil
}

// post sends a JSON request and reads the whole answer, failing unless it
// is 200.
func (bs *benchServer) post(path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	res, err := bs.client.Post(bs.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	return decodeResponse(res, nil)
}

// decodeResponse reads a response into v (nil: discard it), or returns
// its error message.
func decodeResponse(res *http.Response, v any) error {
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", res.Status, bytes.TrimSpace(b))
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

// medianSeconds runs call once to warm up, then with seeds 1, 2, ... until
// d has passed and three calls are done, and returns the median seconds a
// call took.
func medianSeconds(d time.Duration, call func(seed int) error) (float64, error) {
	if err := call(0); err != nil {
		return 0, err
	}
	var secs []float64
	for start := time.Now(); time.Since(start) < d || len(secs) < 3; {
		t := time.Now()
		if err := call(len(secs) + 1); err != nil {
			return 0, err
		}
		secs = append(secs, time.Since(t).Seconds())
	}
	slices.Sort(secs)
	return secs[len(secs)/2], nil
}
