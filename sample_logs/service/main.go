// Command orders stands in for a Go service in a container: it serves
// simulated requests, logs each one (JSON like zap, Go's log package, or
// log/slog JSON and text when built with Go 1.21+), prints a long
// configuration line at start (longer than a container runtime's 16 KiB
// log record, so the runtime splits it), and can panic inside its
// dependency after some requests, as a crashing service does.
//
//	orders -requests 300 -panic-at 120 -log json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/acme/ratelimit"
)

// release is set at build time: -ldflags "-X main.release=v1.9.0".
var release = "dev"

// logger writes one record; fields alternate key, value.
type logger func(level, msg string, fields ...interface{})

var loggers = map[string]func() logger{
	"json": zapLike,
	"std":  stdLog,
}

// zapLike writes what zap's production encoder writes: level, epoch ts,
// caller, msg, then the fields.
func zapLike() logger {
	enc := json.NewEncoder(os.Stdout)
	return func(level, msg string, fields ...interface{}) {
		_, file, line, _ := runtime.Caller(2)
		rec := []string{}
		add := func(k string, v interface{}) {
			b, _ := json.Marshal(v)
			kb, _ := json.Marshal(k)
			rec = append(rec, string(kb)+":"+string(b))
		}
		add("level", level)
		add("ts", float64(time.Now().UnixNano())/1e9)
		add("caller", fmt.Sprintf("orders/%s:%d", file[strings.LastIndex(file, "/")+1:], line))
		add("msg", msg)
		for i := 0; i+1 < len(fields); i += 2 {
			add(fields[i].(string), fields[i+1])
		}
		enc.Encode(json.RawMessage("{" + strings.Join(rec, ",") + "}"))
	}
}

// stdLog writes Go's log package lines: "2006/01/02 15:04:05.000000 msg k=v".
func stdLog() logger {
	l := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds|log.LUTC)
	return func(level, msg string, fields ...interface{}) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", strings.ToUpper(level), msg)
		for i := 0; i+1 < len(fields); i += 2 {
			fmt.Fprintf(&b, " %s=%v", fields[i], fields[i+1])
		}
		l.Print(b.String())
	}
}

var paths = []string{"/orders", "/orders/{id}", "/cart", "/checkout"}

func main() {
	requests := flag.Int("requests", 300, "requests to serve")
	panicAt := flag.Int("panic-at", 0, "panic while serving this request (0: never)")
	format := flag.String("log", "json", "log format: json, std, slog-json, slog-text")
	pause := flag.Duration("pause", 2*time.Millisecond, "time between requests")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	newLogger, ok := loggers[*format]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown -log %q\n", *format)
		os.Exit(2)
	}
	logf := newLogger()
	rng := rand.New(rand.NewSource(*seed))
	logf("info", "starting", "release", release, "go", runtime.Version())
	// One very long line, as services that dump their configuration print.
	logf("info", "configuration", "flags", strings.Repeat("feature-flag=on;", 1300))
	lim := ratelimit.New()
	for i := 1; i <= *requests; i++ {
		time.Sleep(*pause)
		path := paths[rng.Intn(len(paths))]
		latency := 5 + rng.ExpFloat64()*20
		status := 200
		lim.Do(func() {
			if i == *panicAt {
				var cache map[string]int
				cache[path]++ // assignment to entry in nil map
			}
		})
		switch {
		case i%25 == 0:
			status = 504
			logf("error", "upstream timeout", "path", path, "status", status, "latency_ms", latency*10,
				"request_id", fmt.Sprintf("req-%06d", i))
		case i%40 == 0:
			logf("warn", "slow request", "path", path, "status", status, "latency_ms", latency*3,
				"request_id", fmt.Sprintf("req-%06d", i))
		default:
			logf("info", "request served", "path", path, "status", status, "latency_ms", latency,
				"request_id", fmt.Sprintf("req-%06d", i))
		}
	}
	logf("info", "shutting down", "served", *requests)
}
