// Command orders is the orders service of the sample incident. It serves
// HTTP (GET /orders/{id}, POST /orders) for checkout; every request watches
// its order's key and reads it through the etcd client (a local stand-in
// module, see ../deps/etcd-client), then prices the order (real CPU work).
// It logs each request as JSON (zap's field names) with the W3C trace
// context checkout sent, and writes what an SRE collects (goroutine dumps,
// CPU and heap profiles) on the compressed clock (see example.com/shop/kit).
//
//	orders -listen 127.0.0.1:8080 -pod orders-5d8c7b6f9-x2k9p -out /tmp/bundle \
//	    -clock-real 1795312800 -clock-sim 1795312800 -clock-scale 60
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/trace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"example.com/shop/kit"
	"github.com/acme/ratelimit"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var release = "dev" // -ldflags "-X main.release=v2.5.0"

// Item is a line of an order.
type Item struct {
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Cents int64  `json:"cents"`
}

// quote prices an order: its signed total, `rounds` passes of hashing over
// the items (about 1.3 µs each).
//
//go:noinline
func quote(items []Item, rounds int) (int64, string) {
	b, _ := json.Marshal(items)
	h := sha256.New()
	for i := 0; i < rounds; i++ {
		h.Write(b)
	}
	var total int64
	for _, it := range items {
		total += int64(it.Qty) * it.Cents
	}
	return total, hex.EncodeToString(h.Sum(nil)[:8])
}

func main() {
	o := kit.Flags()
	etcd := flag.String("etcd", "etcd-0.etcd.shop.svc:2379", "etcd endpoint")
	traceOut := flag.String("trace", "", "write an execution trace of the first seconds here")
	traceFor := flag.Duration("trace-for", 3*time.Second, "how long to trace (real time)")
	work := flag.Int("work", 12000, "hashing rounds per request (plus an exponential tail, an eighth on average)")
	flag.Parse()
	o.Start()
	log := kit.NewLogger("orders")
	if *traceOut != "" {
		if f, err := os.Create(*traceOut); err == nil && trace.Start(f) == nil {
			log.Info("execution trace started", "seconds", traceFor.Seconds())
			time.AfterFunc(*traceFor, func() { trace.Stop(); f.Close() })
		}
	}
	log.Info("starting", "release", release, "go", runtime.Version(), "pod", o.Pod)
	kit.Collect(o, log)
	rng := kit.NewRand(o.Seed)
	cli, _ := clientv3.New(clientv3.Config{Endpoints: []string{*etcd}, Seed: o.Seed})
	// A lease keeps the pod's registration alive; renewed every 30 s (simulated).
	ka, _ := cli.KeepAlive(context.Background(), 7, kit.Real(30*time.Second))
	go func() {
		for range ka {
		}
	}()
	lim := ratelimit.New()
	var served int64
	handle := func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route, id := "/orders", rng.Intn(100000)
		if rest := strings.TrimPrefix(r.URL.Path, "/orders/"); rest != r.URL.Path && rest != "" {
			route = "/orders/{id}"
			if n, err := strconv.Atoi(rest); err == nil {
				id = n
			}
		}
		traceID, parent, _, ok := kit.ParseTraceparent(r.Header.Get("traceparent"))
		if !ok {
			traceID, parent = rng.TraceID(), ""
		}
		spanID := rng.SpanID()
		status, msg := http.StatusOK, "request served"
		var etcdSeconds float64
		lim.Do(func() {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			key := fmt.Sprintf("orders/%d", id%100)
			cli.Watch(ctx, key)
			t0 := time.Now()
			if _, err := cli.Get(ctx, key); err != nil {
				status, msg = http.StatusGatewayTimeout, "etcd read timed out"
			}
			etcdSeconds = time.Since(t0).Seconds()
			if r.Method == http.MethodPost {
				cli.Put(ctx, key, "placed")
			}
		})
		items := make([]Item, 1+id%9)
		for i := range items {
			items[i] = Item{SKU: fmt.Sprintf("SKU-%05d", (id*7+i)%50000), Qty: 1 + i%3, Cents: int64(199 + (id+i)%5000)}
		}
		total, sig := quote(items, *work+int(rng.ExpFloat64()*float64(*work)/8))
		if status == http.StatusOK && rng.Intn(1000) == 0 {
			status, msg = http.StatusServiceUnavailable, "inventory unavailable"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"id":%d,"items":%d,"total_cents":%d,"quote":%q}`+"\n", id, len(items), total, sig)
		atomic.AddInt64(&served, 1)
		fields := []interface{}{"method", r.Method, "path", route, "status", status,
			"latency_ms", kit.Ms(time.Since(start).Seconds()), "etcd_ms", kit.Ms(etcdSeconds),
			"request_id", r.Header.Get("X-Request-Id"), "trace_id", traceID, "parent_span_id", parent, "span_id", spanID}
		if status >= 500 {
			log.Error(msg, fields...)
		} else {
			log.Info(msg, fields...)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/orders", handle)
	mux.HandleFunc("/orders/", handle)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	if err := kit.Serve(o, log, mux, nil); err != nil {
		log.Error("serve failed", "error", err.Error())
		os.Exit(1)
	}
	log.Info("stopped", "served", atomic.LoadInt64(&served))
}
