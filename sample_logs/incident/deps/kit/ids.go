package kit

import (
	"encoding/hex"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
)

// Rand is a math/rand source safe for concurrent use.
type Rand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// NewRand seeds a Rand.
func NewRand(seed int64) *Rand { return &Rand{r: rand.New(rand.NewSource(seed))} }

// Intn as rand.Intn.
func (r *Rand) Intn(n int) int { r.mu.Lock(); defer r.mu.Unlock(); return r.r.Intn(n) }

// Float64 as rand.Float64.
func (r *Rand) Float64() float64 { r.mu.Lock(); defer r.mu.Unlock(); return r.r.Float64() }

// ExpFloat64 as rand.ExpFloat64.
func (r *Rand) ExpFloat64() float64 { r.mu.Lock(); defer r.mu.Unlock(); return r.r.ExpFloat64() }

func (r *Rand) hex(n int) string {
	b := make([]byte, n)
	r.mu.Lock()
	r.r.Read(b)
	r.mu.Unlock()
	return hex.EncodeToString(b)
}

// TraceID is a W3C trace id: 32 lowercase hex digits.
func (r *Rand) TraceID() string { return r.hex(16) }

// SpanID is a W3C span (parent) id: 16 lowercase hex digits.
func (r *Rand) SpanID() string { return r.hex(8) }

// RequestID is an edge proxy's request id.
func (r *Rand) RequestID() string { return "req-" + r.hex(6) }

// Sampled is OpenTelemetry's TraceIdRatioBased decision: the trace id's
// low 64 bits below ratio * 2^64.
func Sampled(traceID string, ratio float64) bool {
	if len(traceID) != 32 {
		return false
	}
	lo, err := strconv.ParseUint(traceID[16:], 16, 64)
	return err == nil && float64(lo) < ratio*18446744073709551616.0
}

// Traceparent is the W3C traceparent header of a call made from span `parent`.
func Traceparent(traceID, parent string, sampled bool) string {
	flags := "00"
	if sampled {
		flags = "01"
	}
	return fmt.Sprintf("00-%s-%s-%s", traceID, parent, flags)
}

// ParseTraceparent reads a W3C traceparent header.
func ParseTraceparent(h string) (traceID, parent string, sampled, ok bool) {
	parts := strings.Split(strings.TrimSpace(h), "-")
	if len(parts) != 4 || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return "", "", false, false
	}
	flags, err := strconv.ParseUint(parts[3], 16, 8)
	if err != nil {
		return "", "", false, false
	}
	return parts[1], parts[2], flags&1 == 1, true
}
