// Command tracer records a Go execution trace of a small service-like
// workload, so that forensics is tested on what `go tool trace` serves at
// /jsontrace. sample_logs/generate_traces.py builds it with each Go
// toolchain, runs it and saves the trace and its JSON.
//
// Usage: tracer TRACE_FILE [REQUESTS]
//
// REQUESTS (default 8) request handlers run as user tasks with regions and logs; each
// allocates (so the GC runs), writes to a pipe (syscalls) and hands work to
// a pool of workers over a channel (blocking and unblocking goroutines).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/trace"
	"sync"
)

var sink [][]byte

//go:noinline
func allocate(n int) {
	for j := 0; j < n; j++ {
		sink = append(sink, make([]byte, 2048))
		if len(sink) > 2000 {
			sink = sink[1000:]
		}
	}
}

func worker(jobs <-chan int, done *sync.WaitGroup) {
	for n := range jobs {
		allocate(n)
		done.Done()
	}
}

func handle(ctx context.Context, id int, jobs chan<- int, w *os.File, done *sync.WaitGroup) {
	ctx, task := trace.NewTask(ctx, "request")
	defer task.End()
	trace.Log(ctx, "request.id", fmt.Sprint(id))
	trace.WithRegion(ctx, "decode", func() { allocate(2000) })
	trace.WithRegion(ctx, "backend", func() {
		done.Add(1)
		jobs <- 3000
	})
	trace.WithRegion(ctx, "respond", func() {
		fmt.Fprintf(w, "response %d\n", id)
	})
}

func main() {
	requests := 8
	if len(os.Args) == 3 {
		fmt.Sscan(os.Args[2], &requests)
	} else if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tracer TRACE_FILE [REQUESTS]")
		os.Exit(2)
	}
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	jobs := make(chan int)
	var done, handlers sync.WaitGroup
	for i := 0; i < 3; i++ {
		go worker(jobs, &done)
	}
	for id := 0; id < requests; id++ {
		handlers.Add(1)
		go func(id int) {
			defer handlers.Done()
			handle(context.Background(), id, jobs, w, &done)
		}(id)
	}
	handlers.Wait()
	done.Wait()
	trace.Stop()
	f.Close()
	w.Close()
}
