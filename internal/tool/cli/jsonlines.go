package cli

import (
	"encoding/json"
	"io"
	"sync"
)

// JSONLines writes values as JSON lines, one at a time: the commands'
// --json output, which callbacks on other goroutines also write.
type JSONLines struct {
	mu  sync.Mutex // guards enc
	enc *json.Encoder
}

// NewJSONLines writes to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{enc: json.NewEncoder(w)} }

// Line writes v as one line.
func (j *JSONLines) Line(v any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.enc.Encode(v)
}
