// Command profiler writes every kind of profile the Go runtime produces, so
// that forensics is tested on real profile.proto and debug=1 text output.
// sample_logs/generate.py builds it with each Go toolchain.
//
// Usage: profiler OUTDIR
//
// It runs a labelled CPU-bound and allocation-heavy workload with block and
// mutex profiling on, then writes OUTDIR/{cpu,heap,allocs,goroutine,block,
// mutex,threadcreate}.pb.gz and the debug=1 text forms as *.txt.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var sink [][]byte

//go:noinline
func hashLoop(n int) byte {
	var sum [32]byte
	data := make([]byte, 4096)
	for i := 0; i < n; i++ {
		data[i%len(data)] = byte(i)
		sum = sha256.Sum256(data)
	}
	return sum[0]
}

//go:noinline
func allocate(n, size int) {
	for i := 0; i < n; i++ {
		sink = append(sink, make([]byte, size))
		if len(sink) > 512 {
			sink = sink[256:]
		}
	}
}

//go:noinline
func contend(mu *sync.Mutex, n int) {
	for i := 0; i < n; i++ {
		mu.Lock()
		time.Sleep(50 * time.Microsecond)
		mu.Unlock()
	}
}

func write(dir, name string, debug int) {
	ext := ".pb.gz"
	if debug > 0 {
		ext = ".txt"
	}
	f, err := os.Create(filepath.Join(dir, name+ext))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, debug); err != nil {
		panic(err)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: profiler OUTDIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)
	runtime.MemProfileRate = 4096

	cpu, err := os.Create(filepath.Join(dir, "cpu.pb.gz"))
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		panic(err)
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	block := make(chan struct{})
	for _, tenant := range []string{"acme", "globex", "initech"} {
		for _, op := range []string{"hash", "alloc", "lock"} {
			wg.Add(1)
			labels := pprof.Labels("tenant", tenant, "op", op)
			go pprof.Do(context.Background(), labels, func(ctx context.Context) {
				defer wg.Done()
				switch op {
				case "hash":
					hashLoop(60000)
				case "alloc":
					allocate(20000, 1024)
				case "lock":
					contend(&mu, 200)
				}
			})
		}
	}
	// Goroutines that stay parked, with labels, for the goroutine profiles.
	for i := 0; i < 5; i++ {
		go pprof.Do(context.Background(), pprof.Labels("role", "waiter"), func(context.Context) { <-block })
	}
	wg.Wait()
	pprof.StopCPUProfile()
	cpu.Close()

	runtime.GC()
	for _, name := range []string{"heap", "allocs", "goroutine", "block", "mutex", "threadcreate"} {
		write(dir, name, 0)
		write(dir, name, 1)
	}
	fmt.Println("profiles written; goroutines:", runtime.NumGoroutine())
}
