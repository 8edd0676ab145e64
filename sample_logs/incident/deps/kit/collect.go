package kit

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

// Collect writes what an SRE collects from a pod, on the simulated clock:
// goroutine dumps (debug=2, and debug=1) every o.DumpEvery under
// <out>/dumps/<pod>/, and every o.ProfileEvery a CPU profile of o.CPUFor
// and then a heap profile (and a mutex profile, with o.MutexFraction) under
// <out>/profiles/<pod>/, each file named by the time it was taken.
func Collect(o *Options, log *Logger) {
	if o.Out == "" {
		return
	}
	if o.MutexFraction > 0 {
		runtime.SetMutexProfileFraction(o.MutexFraction)
	}
	if o.DumpEvery > 0 {
		go func() {
			time.Sleep(Real(o.DumpEvery) / 5)
			for {
				dumpGoroutines(o, log)
				time.Sleep(Real(o.DumpEvery))
			}
		}()
	}
	if o.ProfileEvery > 0 {
		go func() {
			time.Sleep(Real(o.ProfileEvery) / 4)
			for {
				next := time.Now().Add(Real(o.ProfileEvery))
				profile(o, log)
				time.Sleep(time.Until(next))
			}
		}()
	}
}

func dumpGoroutines(o *Options, log *Logger) {
	dir := filepath.Join(o.Out, "dumps", o.Pod)
	os.MkdirAll(dir, 0o755)
	at := Stamp(Now())
	for _, debug := range []int{2, 1} {
		var buf bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&buf, debug)
		name := fmt.Sprintf("goroutines-debug%d-%s.txt", debug, at)
		data := buf.Bytes()
		if debug == 2 && o.GzipDumps {
			name += ".gz"
			data = gz(data)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			log.Warn("goroutine dump failed", "error", err.Error())
		}
	}
}

func profile(o *Options, log *Logger) {
	dir := filepath.Join(o.Out, "profiles", o.Pod)
	os.MkdirAll(dir, 0o755)
	var cpu bytes.Buffer
	start := Now()
	if err := pprof.StartCPUProfile(&cpu); err != nil {
		log.Warn("cpu profile failed", "error", err.Error())
		return
	}
	time.Sleep(Real(o.CPUFor))
	pprof.StopCPUProfile()
	write := func(kind string, at time.Time, data []byte) {
		data, err := SetTimeNanos(data, at)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.pb.gz", kind, Stamp(at))), data, 0o644)
		}
		if err != nil {
			log.Warn(kind+" profile failed", "error", err.Error())
		}
	}
	write("cpu", start, cpu.Bytes())
	kinds := []string{"heap"}
	if o.MutexFraction > 0 {
		kinds = append(kinds, "mutex")
	}
	at := Now()
	for _, kind := range kinds {
		var buf bytes.Buffer
		pprof.Lookup(kind).WriteTo(&buf, 0)
		write(kind, at, buf.Bytes())
	}
}

func gz(data []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(data)
	w.Close()
	return out.Bytes()
}

// SetTimeNanos rewrites time_nanos (field 9 of profile.proto, a varint) of a
// gzipped profile to t, in place; the other fields (duration_nanos, the
// samples) are left as the runtime wrote them.
func SetTimeNanos(profile []byte, t time.Time) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(profile))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	field9 := binary.AppendUvarint(binary.AppendUvarint(nil, 9<<3|0), uint64(t.UnixNano()))
	var out []byte
	replaced := false
	for i := 0; i < len(raw); {
		start := i
		key, n := binary.Uvarint(raw[i:])
		if n <= 0 {
			return nil, errors.New("bad profile: field key")
		}
		i += n
		switch key & 7 {
		case 0:
			_, n = binary.Uvarint(raw[i:])
			if n <= 0 {
				return nil, errors.New("bad profile: varint")
			}
			i += n
		case 1:
			i += 8
		case 2:
			l, n := binary.Uvarint(raw[i:])
			if n <= 0 {
				return nil, errors.New("bad profile: length")
			}
			i += n + int(l)
		case 5:
			i += 4
		default:
			return nil, fmt.Errorf("bad profile: wire type %d", key&7)
		}
		if i > len(raw) {
			return nil, errors.New("bad profile: truncated")
		}
		if key == 9<<3|0 {
			out = append(out, field9...)
			replaced = true
			continue
		}
		out = append(out, raw[start:i]...)
	}
	if !replaced {
		out = append(out, field9...)
	}
	return gz(out), nil
}
