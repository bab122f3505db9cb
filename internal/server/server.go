package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// Config holds the server's limits. Zero fields take the defaults below;
// none of them changes what the pipeline computes.
type Config struct {
	// Workers is how many jobs compute at once (default 1: one job already
	// spreads over every core). Queue is how many more may wait (default
	// 16); a request beyond both gets 503 with Retry-After.
	Workers, Queue int
	// JobTimeout bounds one job's running time (default 2 minutes).
	JobTimeout time.Duration
	// Grace is how long running jobs may finish after shutdown starts
	// before they are cancelled (default 10 s).
	Grace time.Duration
	// MaxUpload bounds an uploaded image in bytes (default 8 MiB) and
	// MaxUploadPixels its width times height (default 4096*4096).
	MaxUpload       int64
	MaxUploadPixels int64
	// MaxN bounds the images one sample or edit request draws (default 64)
	// and MaxSweeps an edit's gibbs sweeps (default 64).
	MaxN, MaxSweeps int
	// KeepJobs is how many finished jobs stay readable by id (default 64).
	KeepJobs int
	// AllowHosts are further Host values to accept (names of this machine
	// when listening beyond loopback), with or without a port.
	AllowHosts []string
	// Log receives one line per job and the shutdown's progress; nil: none.
	Log io.Writer
}

// DefaultConfig is the configuration zero fields fall back to.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Workers, 1)
	def(&c.Queue, 16)
	def(&c.MaxN, 64)
	def(&c.MaxSweeps, 64)
	def(&c.KeepJobs, 64)
	if c.JobTimeout <= 0 {
		c.JobTimeout = 2 * time.Minute
	}
	if c.Grace <= 0 {
		c.Grace = 10 * time.Second
	}
	if c.MaxUpload <= 0 {
		c.MaxUpload = 8 << 20
	}
	if c.MaxUploadPixels <= 0 {
		c.MaxUploadPixels = 4096 * 4096
	}
	return c
}

// Server serves the page and the JSON API over one Backend.
type Server struct {
	cfg   Config
	b     Backend
	info  Info
	sched *scheduler
	log   *log.Logger
}

// New makes a server over b.
func New(b Backend, cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, b: b, info: b.Info(), sched: newScheduler(cfg.Workers, cfg.Queue, cfg.JobTimeout, cfg.KeepJobs)}
	w := cfg.Log
	if w == nil {
		w = io.Discard
	}
	s.log = log.New(w, "", log.Ltime)
	s.sched.log = s.log
	return s
}

// Handler returns the server's routes behind the Host/Origin guard, for
// the listener's address addr (what the user asked for) and bound (what
// it got).
func (s *Server) Handler(addr string, bound net.Addr) (http.Handler, error) {
	g, err := newGuard(addr, bound, s.cfg.AllowHosts)
	if err != nil {
		return nil, err
	}
	return g.wrap(s.routes()), nil
}

// Serve answers requests on ln until ctx is done (SIGTERM, say), then shuts
// down: it stops accepting connections and jobs, cancels queued jobs, lets
// running jobs finish for up to Config.Grace, cancels what is left, and
// returns nil once every job has ended and every response is written.
// addr is the address the user asked for (it may name the host).
func (s *Server) Serve(ctx context.Context, ln net.Listener, addr string) error {
	h, err := s.Handler(addr, ln.Addr())
	if err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		s.sched.shutdown(0)
		return err
	case <-ctx.Done():
	}
	s.log.Printf("shutting down: finishing running jobs (up to %s)", s.cfg.Grace)
	jobsDone := make(chan struct{})
	go func() { s.sched.shutdown(s.cfg.Grace); close(jobsDone) }()
	// Responses waiting on jobs end with them; allow the grace and a
	// margin for writing them.
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Grace+5*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	<-jobsDone
	if errors.Is(err, context.DeadlineExceeded) {
		hs.Close()
		err = nil
	}
	if e := <-served; err == nil && !errors.Is(e, http.ErrServerClosed) {
		err = e
	}
	s.log.Printf("shut down")
	return err
}

// URL is the address to print for a listener: a wildcard address shows as
// localhost.
func URL(bound net.Addr) string {
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "http://" + bound.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s/", net.JoinHostPort(host, port))
}

// ListenAndServe listens on addr (host:port; port 0 picks a free one), calls
// ready with the page's URL once it accepts connections, and serves until
// ctx is done, as Serve does. This is all a front end such as `vqgen serve`
// needs, with ctx ended by SIGINT or SIGTERM.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(url string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if ready != nil {
		ready(URL(ln.Addr()))
	}
	return s.Serve(ctx, ln, addr)
}
