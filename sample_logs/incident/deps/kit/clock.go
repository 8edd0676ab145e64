// Package kit is the shop's small shared library: the compressed clock the
// sample incident runs on, zap-shaped JSON logs, trace ids, graceful HTTP
// serving and the collection of goroutine dumps and profiles.
//
// The sample incident runs in compressed time: one real second stands for
// SCALE simulated seconds. Everything a program writes that carries a time
// of day (log ts, dump and profile file names, a profile's time_nanos) is
// on the simulated clock; durations (latency_ms, a profile's duration_nanos,
// its samples) stay real.
package kit

import (
	"flag"
	"time"
)

// Clock maps real time to simulated time: sim = simBase + (real - realBase) * scale.
type Clock struct {
	realBase, simBase int64 // Unix nanoseconds
	scale             float64
}

var clock = Clock{scale: 1}

// ClockFlags registers -clock-real, -clock-sim and -clock-scale; Options.Start applies them.
type clockFlags struct {
	real, sim, scale *float64
}

func registerClock(fs *flag.FlagSet) clockFlags {
	return clockFlags{
		real:  fs.Float64("clock-real", 0, "real Unix time (seconds) at which the simulated clock reads -clock-sim (0: no compression)"),
		sim:   fs.Float64("clock-sim", 0, "simulated Unix time (seconds) at -clock-real"),
		scale: fs.Float64("clock-scale", 1, "simulated seconds per real second"),
	}
}

func (c clockFlags) apply() {
	if *c.real == 0 {
		return
	}
	clock = Clock{realBase: int64(*c.real * 1e9), simBase: int64(*c.sim * 1e9), scale: *c.scale}
}

// Now is the simulated time now.
func Now() time.Time { return Sim(time.Now()) }

// Sim is the simulated time of a real instant.
func Sim(t time.Time) time.Time {
	if clock.realBase == 0 {
		return t.UTC()
	}
	return time.Unix(0, clock.simBase+int64(float64(t.UnixNano()-clock.realBase)*clock.scale)).UTC()
}

// Real is how long a simulated duration takes in real time.
func Real(sim time.Duration) time.Duration { return time.Duration(float64(sim) / clock.scale) }

// Stamp names a file by a (simulated) time: 20261122T031500Z.
func Stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
