// Command payments is the payments service of the sample incident: it
// serves POST /charge and POST /refund, calling a (simulated) card gateway,
// with its own load (a built-in generator, open loop at -rate a second),
// and logs each request as JSON (zap's field names) on the compressed clock
// (see example.com/shop/kit). It does not call orders or checkout.
//
// A new pod loads its fraud rules for -warmup (simulated) before it can
// charge: requests fail meanwhile. On SIGTERM the pod keeps receiving
// traffic for -drain (simulated; endpoints take time to update) and fails
// it, then stops.
//
//	payments -rate 5 -warmup 3m -drain 90s -pod payments-7f6c9d8b4-k2m4p
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"example.com/shop/kit"
	"github.com/acme/ratelimit"
)

var release = "dev" // -ldflags "-X main.release=v3.1.0"

// score runs the fraud rules over a charge: `rounds` passes of hashing.
//
//go:noinline
func score(charge string, rounds int) byte {
	h := sha256.New()
	b := []byte(strings.Repeat(charge, 16))
	for i := 0; i < rounds; i++ {
		h.Write(b)
	}
	return h.Sum(nil)[0]
}

func main() {
	o := kit.Flags()
	rate := flag.Float64("rate", 5, "requests per second the built-in load generator sends")
	warmup := flag.Duration("warmup", 0, "simulated time the fraud rules take to load (requests fail until then)")
	drain := flag.Duration("drain", 0, "simulated time the pod still gets (and fails) traffic after SIGTERM")
	flag.Parse()
	o.Start()
	log := kit.NewLogger("payments")
	log.Info("starting", "release", release, "go", runtime.Version(), "pod", o.Pod)
	kit.Collect(o, log)
	rng := kit.NewRand(o.Seed)
	ready := time.Now().Add(kit.Real(*warmup))
	if *warmup > 0 {
		time.AfterFunc(kit.Real(*warmup), func() { log.Info("fraud rules loaded", "rules", 1842) })
	}
	var draining int32
	lim := ratelimit.New()
	handle := func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		traceID, spanID := rng.TraceID(), rng.SpanID()
		status, msg := http.StatusOK, "request served"
		switch {
		case atomic.LoadInt32(&draining) == 1:
			status, msg = http.StatusServiceUnavailable, "shutting down: request rejected"
		case time.Now().Before(ready):
			status, msg = http.StatusServiceUnavailable, "fraud rules not loaded"
		default:
			lim.Do(func() {
				score(r.URL.Path, 150+rng.Intn(300))
				time.Sleep(time.Duration((8 + 12*rng.ExpFloat64()) * float64(time.Millisecond))) // the card gateway
			})
			if rng.Intn(400) == 0 {
				status, msg = http.StatusBadGateway, "card gateway error"
			}
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s\n", msg)
		fields := []interface{}{"method", r.Method, "path", r.URL.Path, "status", status,
			"latency_ms", kit.Ms(time.Since(start).Seconds()), "request_id", r.Header.Get("X-Request-Id"),
			"trace_id", traceID, "span_id", spanID}
		if status >= 500 {
			log.Error(msg, fields...)
		} else {
			log.Info(msg, fields...)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/charge", handle)
	mux.HandleFunc("/refund", handle)

	var stopping int32
	loadDone := make(chan struct{})
	var inflight sync.WaitGroup
	if strings.HasSuffix(o.Listen, ":0") {
		fmt.Fprintln(os.Stderr, "payments: -listen needs a port")
		os.Exit(2)
	}
	go func() {
		defer close(loadDone)
		edge := &http.Client{Timeout: 10 * time.Second}
		tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer tick.Stop()
		for range tick.C {
			if atomic.LoadInt32(&stopping) == 1 {
				return
			}
			path := "/charge"
			if rng.Intn(8) == 0 {
				path = "/refund"
			}
			req, _ := http.NewRequest(http.MethodPost, "http://"+o.Listen+path, nil)
			req.Header.Set("X-Request-Id", rng.RequestID())
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				if resp, err := edge.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
	}()
	err := kit.Serve(o, log, mux, func() {
		atomic.StoreInt32(&draining, 1)
		time.Sleep(kit.Real(*drain))
		atomic.StoreInt32(&stopping, 1)
		<-loadDone
		inflight.Wait()
	})
	if err != nil {
		log.Error("serve failed", "error", err.Error())
		os.Exit(1)
	}
	log.Info("stopped")
}
