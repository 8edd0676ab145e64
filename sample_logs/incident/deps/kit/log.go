package kit

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
)

// Logger writes what zap's production JSON encoder writes: level, ts (epoch
// seconds, simulated clock), caller, msg, then the fields in order.
type Logger struct {
	mu      sync.Mutex
	w       io.Writer
	service string
}

// NewLogger logs to stdout; callers are shown as <service>/<file>:<line>.
func NewLogger(service string) *Logger { return &Logger{w: os.Stdout, service: service} }

func (l *Logger) log(level, msg string, kv []interface{}) {
	var b bytes.Buffer
	b.WriteString(`{"level":`)
	writeJSON(&b, level)
	ts := Now()
	b.WriteString(`,"ts":`)
	b.WriteString(strconv.FormatFloat(float64(ts.UnixNano())/1e9, 'f', -1, 64))
	if _, file, line, ok := runtime.Caller(2); ok {
		b.WriteString(`,"caller":`)
		writeJSON(&b, l.service+"/"+filepath.Base(file)+":"+strconv.Itoa(line))
	}
	b.WriteString(`,"msg":`)
	writeJSON(&b, msg)
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteByte(',')
		writeJSON(&b, kv[i])
		b.WriteByte(':')
		writeJSON(&b, kv[i+1])
	}
	b.WriteString("}\n")
	l.mu.Lock()
	l.w.Write(b.Bytes())
	l.mu.Unlock()
}

func writeJSON(b *bytes.Buffer, v interface{}) {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(err.Error())
	}
	b.Write(data)
}

// Info logs at level info; kv alternate keys and values.
func (l *Logger) Info(msg string, kv ...interface{}) { l.log("info", msg, kv) }

// Warn logs at level warn.
func (l *Logger) Warn(msg string, kv ...interface{}) { l.log("warn", msg, kv) }

// Error logs at level error.
func (l *Logger) Error(msg string, kv ...interface{}) { l.log("error", msg, kv) }

// Ms is a duration in milliseconds, to the microsecond.
func Ms(seconds float64) float64 { return math.Round(seconds*1e6) / 1e3 }
