// Command orders is the service of the sample incident: it serves simulated
// requests, each of which watches a key and reads it through the etcd
// client (a local stand-in module, see ../deps), logs each request as JSON
// (zap's field names) and writes what an SRE would collect: goroutine dumps
// (debug=2 and debug=1) and heap, mutex and CPU profiles every few seconds,
// named by the time they were taken.
//
//	orders -duration 30s -rate 25 -pod orders-7d9c-x -out /tmp/bundle
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/acme/ratelimit"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var release = "dev" // -ldflags "-X main.release=v2.5.0"

func logJSON(level, msg string, fields ...interface{}) {
	rec := map[string]interface{}{"level": level, "ts": float64(time.Now().UnixNano()) / 1e9, "msg": msg}
	for i := 0; i+1 < len(fields); i += 2 {
		rec[fields[i].(string)] = fields[i+1]
	}
	b, _ := json.Marshal(rec)
	os.Stdout.Write(append(b, '\n'))
}

func stamp() string { return time.Now().UTC().Format("20060102T150405Z") }

// collect writes a goroutine dump (debug=2) and, every third time, a debug=1
// goroutine profile and heap and mutex profiles.
func collect(dir, pod string, n int) {
	dumps := filepath.Join(dir, "dumps", pod)
	profs := filepath.Join(dir, "profiles", pod)
	os.MkdirAll(dumps, 0o755)
	os.MkdirAll(profs, 0o755)
	for _, debug := range []int{2, 1} {
		if debug == 1 && n%3 != 0 {
			continue
		}
		if f, err := os.Create(filepath.Join(dumps, fmt.Sprintf("goroutines-debug%d-%s.txt", debug, stamp()))); err == nil {
			pprof.Lookup("goroutine").WriteTo(f, debug)
			f.Close()
		}
	}
	if n%3 == 0 {
		for _, kind := range []string{"heap", "mutex"} {
			if f, err := os.Create(filepath.Join(profs, fmt.Sprintf("%s-%s.pb.gz", kind, stamp()))); err == nil {
				pprof.Lookup(kind).WriteTo(f, 0)
				f.Close()
			}
		}
	}
}

func main() {
	duration := flag.Duration("duration", 30*time.Second, "how long to serve")
	rate := flag.Int("rate", 25, "requests per second")
	pod := flag.String("pod", "orders", "pod name, for the collected files")
	out := flag.String("out", "", "where to write dumps and profiles (none when empty)")
	every := flag.Duration("collect", 2*time.Second, "time between goroutine dumps")
	cpu := flag.Duration("cpu", 6*time.Second, "CPU profile of the first seconds")
	seed := flag.Int64("seed", 1, "random seed")
	traceOut := flag.String("trace", "", "write an execution trace of the first seconds here")
	traceFor := flag.Duration("trace-for", 3*time.Second, "how long to trace")
	flag.Parse()
	if *traceOut != "" {
		if f, err := os.Create(*traceOut); err == nil {
			trace.Start(f)
			time.AfterFunc(*traceFor, func() { trace.Stop(); f.Close() })
		}
	}
	runtime.SetMutexProfileFraction(5)
	rng := rand.New(rand.NewSource(*seed))
	logJSON("info", "starting", "release", release, "go", runtime.Version(), "pod", *pod)
	if *out != "" {
		profs := filepath.Join(*out, "profiles", *pod)
		os.MkdirAll(profs, 0o755)
		if f, err := os.Create(filepath.Join(profs, fmt.Sprintf("cpu-%s.pb.gz", stamp()))); err == nil {
			pprof.StartCPUProfile(f)
			time.AfterFunc(*cpu, func() { pprof.StopCPUProfile(); f.Close() })
		}
		go func() {
			for n := 0; ; n++ {
				time.Sleep(*every)
				collect(*out, *pod, n)
			}
		}()
	}
	cli, _ := clientv3.New(clientv3.Config{Endpoints: []string{"etcd-0:2379"}, Seed: *seed})
	ka, _ := cli.KeepAlive(context.Background(), 7, 500*time.Millisecond)
	go func() {
		for range ka {
		}
	}()
	lim := ratelimit.New()
	paths := []string{"/orders", "/orders/{id}", "/cart", "/checkout"}
	deadline := time.Now().Add(*duration)
	for i := 1; time.Now().Before(deadline); i++ {
		time.Sleep(time.Second / time.Duration(*rate))
		path := paths[rng.Intn(len(paths))]
		start := time.Now()
		status := 200
		lim.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			key := fmt.Sprintf("orders/%d", rng.Intn(100))
			cli.Watch(ctx, key)
			if _, err := cli.Get(ctx, key); err != nil {
				status = 504
			}
			if rng.Intn(10) == 0 {
				cli.Put(ctx, key, "v")
			}
			time.Sleep(time.Duration(2+rng.ExpFloat64()*3) * time.Millisecond) // the rest of the handler
		})
		ms := float64(time.Since(start).Microseconds()) / 1000
		if status != 200 || rng.Intn(50) == 0 {
			logJSON("error", "request failed", "path", path, "status", 503, "latency_ms", ms,
				"request_id", fmt.Sprintf("%s-%06d", *pod, i))
			continue
		}
		logJSON("info", "request served", "path", path, "status", status, "latency_ms", ms,
			"request_id", fmt.Sprintf("%s-%06d", *pod, i))
	}
	logJSON("info", "shutting down")
}
