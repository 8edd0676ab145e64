// Package ratelimit stands in for a third-party dependency so that crash
// output carries real module-cache paths (…/pkg/mod/github.com/acme/ratelimit@vX/…).
package ratelimit

import "sync"

// Limiter counts calls and runs callbacks.
type Limiter struct {
	mu sync.Mutex
	n  int
}

// New returns a Limiter.
func New() *Limiter { return &Limiter{} }

// Do runs f under the limiter. Not inlined, so it shows with its arguments.
//
//go:noinline
func (l *Limiter) Do(f func()) {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	f()
}

// Wait blocks until ch is closed.
//
//go:noinline
func (l *Limiter) Wait(ch chan struct{}) {
	<-ch
}

// Call is small enough to be inlined: tracebacks print it as Call(...).
func Call(f func()) { f() }
