// Command checkout is the checkout service of the sample incident. It serves
// HTTP (GET /cart, POST /checkout) and calls orders for every request over
// real HTTP, round robin over the orders endpoints (a file the cluster
// rewrites as pods come and go, re-read every second), passing W3C trace
// context. Its own load comes from a built-in generator (the shop's edge),
// open loop at -rate requests per second. Each request is logged as JSON
// (zap's field names) with its trace id, its server span id, the client span
// id of the call to orders and that call's latency; CPU and heap profiles
// are written on the compressed clock (see example.com/shop/kit).
//
//	checkout -orders-endpoints /tmp/orders.endpoints -rate 10 -pod checkout-6d9f8b7c5-q2w4x
package main

import (
	"bufio"
	"bytes"
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

var release = "dev" // -ldflags "-X main.release=v1.3.0"

// endpoint is one ready orders pod.
type endpoint struct{ pod, addr string }

// endpoints is the orders Service's endpoints as the cluster publishes them.
type endpoints struct {
	mu   sync.Mutex
	file string
	raw  []byte
	list []endpoint
	next uint64
}

func (e *endpoints) reload() {
	raw, err := os.ReadFile(e.file)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if bytes.Equal(raw, e.raw) {
		return
	}
	e.raw = raw
	var list []endpoint
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			list = append(list, endpoint{f[0], f[1]})
		}
	}
	e.list = list
}

func (e *endpoints) pick() (endpoint, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.list) == 0 {
		return endpoint{}, false
	}
	e.next++
	return e.list[e.next%uint64(len(e.list))], true
}

// render builds the page: `rounds` passes of hashing (about 1.3 µs each).
//
//go:noinline
func render(page string, rounds int) []byte {
	h := sha256.New()
	b := []byte(strings.Repeat(page, 64))
	for i := 0; i < rounds; i++ {
		h.Write(b)
	}
	return h.Sum(nil)
}

func main() {
	o := kit.Flags()
	file := flag.String("orders-endpoints", "", "file listing the ready orders pods, `<pod> <host:port>` a line")
	rate := flag.Float64("rate", 10, "requests per second the built-in load generator sends (0: none)")
	work := flag.Int("work", 3000, "hashing rounds before and after the orders call")
	ratio := flag.Float64("sample-ratio", 0.25, "share of traces sampled (TraceIdRatioBased on the trace id)")
	flag.Parse()
	o.Start()
	log := kit.NewLogger("checkout")
	log.Info("starting", "release", release, "go", runtime.Version(), "pod", o.Pod)
	kit.Collect(o, log)
	rng := kit.NewRand(o.Seed)
	eps := &endpoints{file: *file}
	eps.reload()
	go func() {
		for range time.Tick(time.Second) {
			eps.reload()
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}}
	lim := ratelimit.New()
	handle := func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		traceID, spanID, clientSpan := rng.TraceID(), rng.SpanID(), rng.SpanID()
		sampled := kit.Sampled(traceID, *ratio)
		reqID := r.Header.Get("X-Request-Id")
		render(r.URL.Path, *work/2+rng.Intn(*work))
		status, msg := http.StatusOK, "request served"
		fields := []interface{}{}
		ep, ok := eps.pick()
		if !ok {
			status, msg = http.StatusServiceUnavailable, "no orders endpoints"
		} else {
			method, url := http.MethodGet, fmt.Sprintf("http://%s/orders/%d", ep.addr, rng.Intn(100000))
			if r.URL.Path == "/checkout" {
				method, url = http.MethodPost, fmt.Sprintf("http://%s/orders", ep.addr)
			}
			req, _ := http.NewRequestWithContext(r.Context(), method, url, nil)
			req.Header.Set("traceparent", kit.Traceparent(traceID, clientSpan, sampled))
			req.Header.Set("X-Request-Id", reqID)
			t0 := time.Now()
			var resp *http.Response
			var err error
			lim.Do(func() { resp, err = client.Do(req) })
			code := 0
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			fields = append(fields, "client_span_id", clientSpan, "orders_pod", ep.pod, "orders_status", code,
				"orders_latency_ms", kit.Ms(time.Since(t0).Seconds()))
			switch {
			case err != nil:
				status, msg = http.StatusBadGateway, "orders call failed"
				fields = append(fields, "error", err.Error())
			case code >= 500:
				status, msg = http.StatusBadGateway, "orders returned an error"
			}
		}
		render(r.URL.Path, *work/2+rng.Intn(*work))
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s\n", msg)
		fields = append([]interface{}{"method", r.Method, "path", r.URL.Path, "status", status,
			"latency_ms", kit.Ms(time.Since(start).Seconds()), "request_id", reqID,
			"trace_id", traceID, "span_id", spanID}, fields...)
		if status >= 500 {
			log.Error(msg, fields...)
		} else {
			log.Info(msg, fields...)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/cart", handle)
	mux.HandleFunc("/checkout", handle)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })

	// The load: the edge sends -rate requests a second, whatever the latency.
	var stopping int32
	loadDone := make(chan struct{})
	var inflight sync.WaitGroup
	startLoad := func(addr string) {
		edge := &http.Client{Timeout: 10 * time.Second}
		go func() {
			defer close(loadDone)
			if *rate <= 0 {
				return
			}
			tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
			defer tick.Stop()
			for range tick.C {
				if atomic.LoadInt32(&stopping) == 1 {
					return
				}
				method, path := http.MethodGet, "/cart"
				if rng.Intn(4) == 0 {
					method, path = http.MethodPost, "/checkout"
				}
				req, _ := http.NewRequest(method, "http://"+addr+path, nil)
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
	}
	o.Listen = listenAddr(o.Listen)
	startLoad(o.Listen)
	err := kit.Serve(o, log, mux, func() {
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

// listenAddr: the load generator needs the port before serving starts, so
// no port 0.
func listenAddr(addr string) string {
	if strings.HasSuffix(addr, ":0") {
		fmt.Fprintln(os.Stderr, "checkout: -listen needs a port")
		os.Exit(2)
	}
	return addr
}
