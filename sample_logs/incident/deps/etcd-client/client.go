// Package clientv3 stands in for the etcd v3 client so that an incident's
// stacks carry real module-cache paths (.../pkg/mod/go.etcd.io/etcd/client/v3@vX/...).
// It is NOT etcd: it simulates a key-value client in memory. The generator
// serves it at two versions: v3.4.27, and v3.5.9, whose watch goroutines
// outlive their context and whose lease keep-alive loop dereferences a nil
// response (see the files the generator adds for each version). A renewal
// times out only when hundreds of watchers crowd the stream, which only
// v3.5.9's leak brings about.
package clientv3

import (
	"context"
	"math/rand"
	"sync"
	"time"
)

// Config configures a Client.
type Config struct {
	Endpoints []string
	Seed      int64
}

// Client talks to the (simulated) cluster.
type Client struct {
	mu       sync.Mutex
	data     map[string]string
	watchers map[int]chan WatchResponse
	next     int
	rng      *rand.Rand
}

// WatchResponse is one event of a watch.
type WatchResponse struct{ Key, Value string }

// LeaseKeepAliveResponse is one renewal of a lease.
type LeaseKeepAliveResponse struct{ ID, TTL int64 }

// New returns a Client.
func New(cfg Config) (*Client, error) {
	return &Client{data: map[string]string{}, watchers: map[int]chan WatchResponse{},
		rng: rand.New(rand.NewSource(cfg.Seed))}, nil
}

// Get reads a key. The cluster answers every open watch first (a stand-in
// for the work a real server does per watcher), so Get slows down as
// watchers pile up.
//
//go:noinline
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.watchers {
		c.progressNotify(id)
	}
	return c.data[key], ctx.Err()
}

// Put writes a key and notifies the watchers.
func (c *Client) Put(ctx context.Context, key, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[key] = value
	for _, ch := range c.watchers {
		select {
		case ch <- WatchResponse{key, value}:
		default:
		}
	}
	return ctx.Err()
}

// Watch streams the changes of a key until ctx is done.
//
//go:noinline
func (c *Client) Watch(ctx context.Context, key string) <-chan WatchResponse {
	c.mu.Lock()
	id := c.next
	c.next++
	ch := make(chan WatchResponse, 1)
	c.watchers[id] = ch
	c.mu.Unlock()
	out := make(chan WatchResponse, 1)
	go c.watchLoop(ctx, id, ch, out)
	return out
}

func (c *Client) stopWatch(id int) {
	c.mu.Lock()
	delete(c.watchers, id)
	c.mu.Unlock()
}

// KeepAlive renews a lease every interval until ctx is done.
func (c *Client) KeepAlive(ctx context.Context, id int64, interval time.Duration) (<-chan *LeaseKeepAliveResponse, error) {
	out := make(chan *LeaseKeepAliveResponse, 1)
	l := &lessor{c: c, id: id}
	go l.keepAliveLoop(ctx, interval, out)
	return out, nil
}

type lessor struct {
	c  *Client
	id int64
}

func (l *lessor) keepAliveLoop(ctx context.Context, interval time.Duration, out chan *LeaseKeepAliveResponse) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.recvKeepAlive(l.sendKeepAlive(), out)
		}
	}
}

// Renewals share the client's stream with every open watch. Past
// congestedAt watchers on it, a renewal can time out, the more often the
// more watchers there are (each one past the threshold adds 1/congestionSpread
// to the chance).
const (
	congestedAt      = 520
	congestionSpread = 1500.0
)

// sendKeepAlive returns the server's answer, or nil when the renewal timed out.
func (l *lessor) sendKeepAlive() *LeaseKeepAliveResponse {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if n := len(l.c.watchers); n > congestedAt && l.c.rng.Float64() < float64(n-congestedAt)/congestionSpread {
		return nil
	}
	return &LeaseKeepAliveResponse{ID: l.id, TTL: 10}
}

// progressNotify is the work the (simulated) server does for one open watch
// on every read.
//
//go:noinline
func (c *Client) progressNotify(id int) int {
	x := id
	for i := 0; i < progressWork; i++ {
		x += i * i
	}
	return x
}

// progressWork: about 40 µs of CPU per open watch and read.
const progressWork = 50000

// contextLike is what the watch loop needs of a context.
type contextLike interface{ Done() <-chan struct{} }
