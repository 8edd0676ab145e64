// Command profiler writes every kind of profile the Go runtime produces, so
// that forensics is tested on real profile.proto and debug=1 text output.
// sample_logs/generate.py builds it with each Go toolchain.
//
// Usage: profiler OUTDIR
//
//	profiler -leak OUTDIR
//	profiler -big N FILE
//
// It runs a labelled CPU-bound and allocation-heavy workload with block and
// mutex profiling on, then writes OUTDIR/{cpu,heap,allocs,goroutine,block,
// mutex,threadcreate}.pb.gz and the debug=1 text forms as *.txt.
//
// With -leak it serves batches of simulated requests, each of which starts
// a watcher goroutine that is never cancelled (the leak), next to a fixed
// worker pool and short-lived goroutines, and after each batch writes a
// goroutine snapshot in the three forms /debug/pprof/goroutine serves:
// OUTDIR/goroutine-N.pb.gz (debug=0), .txt (debug=1) and .dump.txt (debug=2).
//
// With -big it writes to FILE an allocs profile of N allocations, each
// from a distinct stack (benchmarks/bench_profile.py).
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

// newBuf is small enough to be inlined where it is called directly; called
// through newBufFn it is a real call. Its allocations then reach it both
// ways, which pprof labels "(partial-inline)".
func newBuf(n int) []byte { return make([]byte, n) }

var newBufFn = newBuf

//go:noinline
func buffersDirect(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink, newBuf(512))
		if len(sink) > 512 {
			sink = sink[256:]
		}
	}
}

//go:noinline
func buffersIndirect(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink, newBufFn(512))
		if len(sink) > 512 {
			sink = sink[256:]
		}
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

// watch waits for an event that never comes: nobody cancels ctx.
//
//go:noinline
func watch(ctx context.Context, events <-chan string) {
	select {
	case <-ctx.Done():
	case <-events:
	}
}

// handle serves one request; it forgets to cancel its watcher's context.
//
//go:noinline
func handle(events <-chan string, done *sync.WaitGroup) {
	ctx, _ := context.WithCancel(context.Background()) //nolint:govet // the leak under study
	go watch(ctx, events)
	done.Done()
}

// worker is one of a fixed pool: the count stays flat.
func worker(jobs <-chan int) {
	for range jobs {
	}
}

func leak(dir string) {
	events := make(chan string)
	jobs := make(chan int)
	for i := 0; i < 4; i++ {
		go worker(jobs)
	}
	for step := 0; step < 6; step++ {
		var done sync.WaitGroup
		for i := 0; i < 40; i++ {
			done.Add(1)
			go handle(events, &done)
		}
		done.Wait()
		// Short-lived goroutines: come and go between snapshots.
		var brief sync.WaitGroup
		for i := 0; i < 10; i++ {
			brief.Add(1)
			go func() { defer brief.Done(); jobs <- i }()
		}
		brief.Wait()
		time.Sleep(20 * time.Millisecond)
		for _, form := range []struct {
			ext   string
			debug int
		}{{".pb.gz", 0}, {".txt", 1}, {".dump.txt", 2}} {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("goroutine-%d%s", step, form.ext)))
			if err != nil {
				panic(err)
			}
			if err := pprof.Lookup("goroutine").WriteTo(f, form.debug); err != nil {
				panic(err)
			}
			f.Close()
		}
	}
	fmt.Println("leak snapshots written; goroutines:", runtime.NumGoroutine())
}

// Functions for big: which one a frame is depends on the path, so n paths
// give n distinct stacks.
var steps [8]func(depth int, path uint64)

//go:noinline
func step0(d int, p uint64) { step(d, p) }

//go:noinline
func step1(d int, p uint64) { step(d, p) }

//go:noinline
func step2(d int, p uint64) { step(d, p) }

//go:noinline
func step3(d int, p uint64) { step(d, p) }

//go:noinline
func step4(d int, p uint64) { step(d, p) }

//go:noinline
func step5(d int, p uint64) { step(d, p) }

//go:noinline
func step6(d int, p uint64) { step(d, p) }

//go:noinline
func step7(d int, p uint64) { step(d, p) }

func step(depth int, path uint64) {
	if depth == 0 {
		sink = append(sink, make([]byte, 16+int(path%64)))
		return
	}
	steps[path%8](depth-1, path/8)
}

// big writes an allocs profile of n allocations, each from its own stack
// (every one sampled): a large real profile.proto for the benchmarks.
func big(n int, out string) {
	steps = [8]func(int, uint64){step0, step1, step2, step3, step4, step5, step6, step7}
	runtime.MemProfileRate = 1
	for p := 0; p < n; p++ {
		step(8, uint64(p))
	}
	f, err := os.Create(out)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		panic(err)
	}
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-leak" {
		leak(os.Args[2])
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "-big" {
		var n int
		fmt.Sscan(os.Args[2], &n)
		big(n, os.Args[3])
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: profiler OUTDIR | profiler -leak OUTDIR")
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
	buffersDirect(2000)
	buffersIndirect(2000)
	pprof.StopCPUProfile()
	cpu.Close()

	runtime.GC()
	for _, name := range []string{"heap", "allocs", "goroutine", "block", "mutex", "threadcreate"} {
		write(dir, name, 0)
		write(dir, name, 1)
	}
	fmt.Println("profiles written; goroutines:", runtime.NumGoroutine())
}
