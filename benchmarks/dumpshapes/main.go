// Command dumpshapes parks goroutines in one of three shapes and writes
// runtime.Stack(buf, true) of them all to stdout: the goroutine dumps of
// benchmarks/bench_goroutine_dump.py (standard library only).
//
//	dumpshapes leak N    N goroutines leaked on the same channel through the same calls (identical stacks)
//	dumpshapes varied N  N goroutines, each in its own stack 20 to 40 frames deep (distinct calls)
//	dumpshapes small N   N goroutines of a small server: a few shapes, shallow stacks
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var (
	block = make(chan struct{})
	mu    sync.Mutex
	ready sync.WaitGroup
)

type worker struct{ id, retries int }

//go:noinline
func (w *worker) wait(ch chan struct{}) { <-ch }

//go:noinline
func (w *worker) process(ch chan struct{}) { w.wait(ch) }

//go:noinline
func leaked(w *worker) { ready.Done(); w.process(block) }

// Four mutually recursive calls, two frames a level: the bits of a
// goroutine's number choose the function at each level, so that goroutines
// hardly ever share a stack.
//
//go:noinline
func a(n, path int) int {
	if n <= 0 {
		ready.Done()
		<-block
		return path
	}
	return step(n-1, path) + 1
}

//go:noinline
func b(n, path int) int { return step(n-1, path) + 2 }

//go:noinline
func c(n, path int) int { return step(n-1, path) + 3 }

//go:noinline
func d(n, path int) int { return step(n-1, path) + 4 }

//go:noinline
func step(n, path int) int {
	if n <= 0 {
		return a(0, path)
	}
	switch (path >> uint(2*(n%16))) & 3 {
	case 0:
		return a(n, path)
	case 1:
		return b(n, path)
	case 2:
		return c(n, path)
	}
	return d(n, path)
}

//go:noinline
func serve(conn int) {
	ready.Done()
	select {
	case <-block:
	case <-time.After(time.Hour):
	}
}

//go:noinline
func handle(req int) { serve(req) }

//go:noinline
func accept(conn int) { handle(conn + 1) }

//go:noinline
func locked() { ready.Done(); mu.Lock(); defer mu.Unlock() } //nolint

//go:noinline
func sleeper(d time.Duration) { ready.Done(); time.Sleep(d) }

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: dumpshapes leak|varied|small N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	mu.Lock()
	w := &worker{id: 7, retries: 3}
	for i := 0; i < n; i++ {
		ready.Add(1)
		switch os.Args[1] {
		case "leak":
			go leaked(w)
		case "varied":
			go a(10+i%11, i*40503+i>>3)
		case "small":
			switch i % 5 {
			case 0, 1:
				go accept(i % 3)
			case 2:
				go serve(i % 7)
			case 3:
				go locked()
			default:
				go sleeper(time.Hour)
			}
		default:
			fmt.Fprintln(os.Stderr, "unknown shape", os.Args[1])
			os.Exit(2)
		}
	}
	ready.Wait()
	time.Sleep(300 * time.Millisecond)
	buf := make([]byte, 1<<20)
	for {
		k := runtime.Stack(buf, true)
		if k < len(buf) {
			os.Stdout.Write(buf[:k])
			return
		}
		buf = make([]byte, 2*len(buf))
	}
}
