package kit

import (
	"context"
	"flag"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Options are the flags every service of the shop takes.
type Options struct {
	Pod, Out, Listen string
	Seed             int64
	DumpEvery        time.Duration // simulated; 0: no goroutine dumps
	ProfileEvery     time.Duration // simulated; 0: no profiles
	CPUFor           time.Duration // simulated (so CPUFor/scale real seconds of samples)
	GzipDumps        bool
	MutexFraction    int // runtime.SetMutexProfileFraction; > 0: mutex profiles beside the heap's
	clock            clockFlags
}

// Flags registers the shared flags on the command line.
func Flags() *Options {
	o := &Options{}
	flag.StringVar(&o.Pod, "pod", "local", "pod name, for the collected files")
	flag.StringVar(&o.Out, "out", "", "where to write dumps and profiles (none when empty)")
	flag.StringVar(&o.Listen, "listen", "127.0.0.1:0", "address to serve HTTP on")
	flag.Int64Var(&o.Seed, "seed", 1, "random seed")
	flag.DurationVar(&o.DumpEvery, "dump-every", 0, "simulated time between goroutine dumps (0: none)")
	flag.DurationVar(&o.ProfileEvery, "profile-every", 0, "simulated time between CPU and heap profiles (0: none)")
	flag.DurationVar(&o.CPUFor, "cpu-for", 8*time.Minute, "simulated time each CPU profile samples")
	flag.BoolVar(&o.GzipDumps, "gzip-dumps", false, "gzip the debug=2 goroutine dumps")
	flag.IntVar(&o.MutexFraction, "mutex-fraction", 0, "sample 1 in n mutex contention events (0: no mutex profiles)")
	o.clock = registerClock(flag.CommandLine)
	return o
}

// Start applies the clock flags; call it after flag.Parse.
func (o *Options) Start() { o.clock.apply() }

// Serve serves h on o.Listen until SIGTERM (or SIGINT): then it calls
// onTerm (which may block, e.g. to drain), stops accepting and waits for the
// requests in flight.
func Serve(o *Options, log *Logger, h http.Handler, onTerm func()) error {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() {
		s := <-sig
		log.Info("shutting down", "signal", s.String())
		if onTerm != nil {
			onTerm()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(done)
	}()
	log.Info("listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	<-done
	return nil
}
