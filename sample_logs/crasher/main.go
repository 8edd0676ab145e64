// Command crasher fails in every way the Go runtime can report, so that
// forensics is tested on real runtime output. sample_logs/generate.py builds it
// with each Go toolchain and records what it prints.
//
// Usage: crasher MODE [ARG]
//
// Before failing, every mode logs one line through the standard log package:
//
//	crasher: mode=MODE goroutines=N
//
// where N is runtime.NumGoroutine() just before the dump. Tests compare the
// parsed goroutine count with that number.
package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/acme/ratelimit"
)

var limiter = ratelimit.New()

// OrderError is an error type whose message carries variable numbers.
type OrderError struct {
	ID    int
	Stage string
}

func (e *OrderError) Error() string {
	return fmt.Sprintf("order %d failed at stage %s", e.ID, e.Stage)
}

// Point is a non-error, non-Stringer struct: the runtime prints its address.
type Point struct{ X, Y int }

// Status has a basic underlying type: the runtime prints main.Status(N).
type Status int

func announce(mode string) {
	log.Printf("crasher: mode=%s goroutines=%d", mode, runtime.NumGoroutine())
}

// park starts goroutines blocked in many different states and returns once
// they are all parked.
func park() {
	var ready sync.WaitGroup
	block := make(chan struct{})

	start := func(f func()) {
		ready.Add(1)
		go func() {
			ready.Done()
			f()
		}()
	}
	start(func() { <-block })                        // chan receive
	start(func() { make(chan int) <- 1 })            // chan send
	start(func() { var c chan int; <-c })            // chan receive (nil chan)
	start(func() { select {} })                      // select (no cases)
	start(func() {                                   // select
		c1, c2 := make(chan int), make(chan int)
		select {
		case <-c1:
		case <-c2:
		}
	})
	start(func() { time.Sleep(time.Hour) })          // sleep
	var mu sync.Mutex
	mu.Lock()
	start(func() { mu.Lock() })                      // sync.Mutex.Lock / semacquire
	var wg sync.WaitGroup
	wg.Add(1)
	start(func() { wg.Wait() })                      // sync.WaitGroup.Wait / semacquire
	cond := sync.NewCond(&sync.Mutex{})
	start(func() { cond.L.Lock(); cond.Wait() })     // sync.Cond.Wait
	start(func() { runtime.LockOSThread(); <-block }) // locked to thread
	start(func() { limiter.Wait(block) })            // blocked inside a dependency
	start(func() { ratelimit.Call(func() { <-block }) })
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		start(func() { ln.Accept() }) // IO wait
	}
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err == nil {
		start(func() { // syscall: a blocking read outside the poller
			buf := make([]byte, 1)
			syscall.Read(fds[0], buf)
		})
	}
	start(func() { deep(150, block) }) // more than 100 frames: elided in tracebacks
	ready.Wait()
	time.Sleep(200 * time.Millisecond) // let every goroutine reach its blocking call
}

//go:noinline
func deep(n int, block chan struct{}) int {
	if n == 0 {
		<-block
		return 0
	}
	return deep(n-1, block) + 1
}

//go:noinline
func recurse(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	return recurse(n+1) + int(pad[3])
}

//go:noinline
func processOrder(id int) {
	limiter.Do(func() {
		if id > 0 {
			panic(&OrderError{ID: id, Stage: "payment"})
		}
	})
}

//go:noinline
func lookup(items []int, i int) int { return items[i] }

type config struct{ name *string }

//go:noinline
func configName(c *config) string { return *c.name }

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crasher MODE [ARG]")
		os.Exit(2)
	}
	mode := os.Args[1]
	arg := 0
	if len(os.Args) > 2 {
		arg, _ = strconv.Atoi(os.Args[2])
	}
	log.Printf("crasher: starting pid=%d go=%s", os.Getpid(), runtime.Version())

	switch mode {
	case "panic-string":
		park()
		announce(mode)
		limiter.Do(func() { panic("something broke: user 42 has no quota") })
	case "panic-text":
		// A panic value chosen by the caller (reports must show it as text, whatever it holds).
		announce(mode)
		panic(strings.Join(os.Args[2:], " "))
	case "panic-error":
		announce(mode)
		panic(errors.New("open /etc/app/config.yaml: permission denied"))
	case "panic-custom-error":
		park()
		done := make(chan struct{})
		go func() {
			announce(mode)
			processOrder(1000 + arg)
			close(done) // not deferred: a deferred close would let main exit mid-panic
		}()
		<-done
	case "panic-struct":
		announce(mode)
		panic(Point{X: 1, Y: 2})
	case "panic-named-int":
		announce(mode)
		panic(Status(503))
	case "panic-multiline":
		announce(mode)
		panic("first line of the message\nsecond line\n\tindented third line")
	case "nil-deref":
		announce(mode)
		fmt.Println(configName(&config{}))
	case "index":
		announce(mode)
		fmt.Println(lookup([]int{1, 2, 3}, 5+arg))
	case "recovered-chain":
		announce(mode)
		defer func() {
			r := recover()
			panic(fmt.Sprintf("cleanup failed after: %v", r))
		}()
		panic("first failure")
	case "repanic":
		announce(mode)
		defer func() {
			r := recover()
			panic(r)
		}()
		panic(errors.New("connection reset by peer"))
	case "nested-panic":
		announce(mode)
		defer func() { panic("panic in deferred call") }()
		panic("original panic")
	case "concurrent-map":
		m := map[string]int{}
		announce(mode)
		for i := 0; i < 4; i++ {
			go func() {
				for j := 0; ; j++ {
					m[strconv.Itoa(j%100)] = j
				}
			}()
		}
		time.Sleep(10 * time.Second)
	case "deadlock":
		c := make(chan int)
		go func() { var mu sync.Mutex; mu.Lock(); mu.Lock() }()
		time.Sleep(100 * time.Millisecond)
		announce(mode)
		<-c
	case "stack-overflow":
		announce(mode)
		recurse(0)
	case "busy-panic":
		// A goroutine spinning on another thread when main panics:
		// "goroutine running on other thread; stack unavailable".
		started := make(chan struct{})
		go func() {
			close(started)
			x := 0
			for {
				x++
			}
		}()
		<-started
		time.Sleep(50 * time.Millisecond)
		announce(mode)
		panic("panic while another goroutine spins")
	case "sigquit":
		park()
		announce(mode)
		syscall.Kill(os.Getpid(), syscall.SIGQUIT)
		time.Sleep(10 * time.Second)
	case "sigabrt":
		// kill -ABRT: the runtime prints "SIGABRT: abort", PC=, goroutines and
		// registers; at GOTRACEBACK=crash every M's stack, "-----" apart.
		park()
		announce(mode)
		syscall.Kill(os.Getpid(), syscall.SIGABRT)
		time.Sleep(10 * time.Second)
	case "race":
		announce(mode)
		counter := 0
		var wg sync.WaitGroup
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				counter++
			}()
		}
		wg.Wait()
		fmt.Println(counter)
		limiter.Do(func() {})
	case "stack":
		// runtime.Stack(buf, true), embedded between log lines.
		park()
		announce(mode)
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		os.Stdout.Write(buf[:n])
		log.Printf("crasher: dumped %d bytes of stacks", n)
	case "stack-crlf":
		// The same dump as a Windows service writes it: CRLF line ends.
		park()
		announce(mode)
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		os.Stdout.WriteString(strings.ReplaceAll(string(buf[:n]), "\n", "\r\n"))
	case "pprof-goroutine":
		// What /debug/pprof/goroutine?debug=2 serves.
		park()
		if arg > 0 {
			// ", N minutes" needs a real wait, and the runtime only notes when a
			// goroutine started waiting when a GC scans it: gp.waitsince takes
			// work.tstart, which the first GC of a process leaves at 0
			// (runtime/mgcmark.go markroot), hence two.
			runtime.GC()
			runtime.GC()
			time.Sleep(time.Duration(arg) * time.Second)
		}
		announce(mode)
		pprof.Lookup("goroutine").WriteTo(os.Stdout, 2)
	case "multi":
		// Several dumps in one log stream, then a crash.
		park()
		for i := 0; i < 2; i++ {
			announce(mode)
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			os.Stderr.Write(buf[:n])
			log.Printf("crasher: health check %d failed, retrying", i)
		}
		announce(mode)
		panic(&OrderError{ID: 7, Stage: "shipping"})
	case "bigdump":
		// arg goroutines blocked in a few realistic stacks, then a dump of all.
		block := make(chan struct{})
		var ready sync.WaitGroup
		for i := 0; i < arg; i++ {
			ready.Add(1)
			switch i % 4 {
			case 0:
				go func() { ready.Done(); limiter.Wait(block) }()
			case 1:
				go func(i int) { ready.Done(); deep(3+i%5, block) }(i)
			case 2:
				go func() { ready.Done(); ratelimit.Call(func() { <-block }) }()
			default:
				go func() {
					ready.Done()
					select {
					case <-block:
					case <-time.After(time.Hour):
					}
				}()
			}
		}
		ready.Wait()
		time.Sleep(500 * time.Millisecond)
		announce(mode)
		// runtime.Stack rather than pprof's debug=2 writer, which stops at 64 MB.
		buf := make([]byte, 2048*(arg+100))
		n := runtime.Stack(buf, true)
		os.Stdout.Write(buf[:n])
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
		os.Exit(2)
	}
}
