package launch

import (
	"bytes"
	"io"
	"strconv"
	"sync"
)

// lockedWriter serialises whole lines of all ranks onto one writer.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(p) // the job must not stop because its output cannot be shown
}

// sameWriter reports whether a and b are the same writer; writers of an
// uncomparable type are taken for different ones.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// maxLine is the longest line kept whole.
const maxLine = 1 << 20

// lineWriter splits one rank stream into lines and writes each as
// "[rank N] line", except, if passJSON, lines starting with '{', which pass
// unchanged: the commands' --json summaries stay machine-readable.
type lineWriter struct {
	out      *lockedWriter
	prefix   []byte
	passJSON bool

	mu      sync.Mutex // guards partial and line: exec's copier writes, the waiter flushes
	partial []byte     // an unfinished line
	line    []byte     // scratch for prefix + line
}

func newLineWriter(out *lockedWriter, rank int, passJSON bool) *lineWriter {
	return &lineWriter{out: out, prefix: []byte("[rank " + strconv.Itoa(rank) + "] "), passJSON: passJSON}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= maxLine {
				w.emit([]byte{'\n'}) // a very long line is cut, not held without bound
			}
			break
		}
		w.emit(p[:i+1])
		p = p[i+1:]
	}
	return n, nil
}

// emit writes one line (ending in '\n'), after what is left of the last one.
func (w *lineWriter) emit(tail []byte) {
	line := tail
	if len(w.partial) > 0 {
		w.partial = append(w.partial, tail...)
		line = w.partial
	}
	if w.passJSON && len(line) > 0 && line[0] == '{' {
		w.out.write(line)
	} else {
		w.line = append(append(w.line[:0], w.prefix...), line...)
		w.out.write(w.line)
	}
	w.partial = w.partial[:0]
}

// flush writes an unfinished last line, with a newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit([]byte{'\n'})
	}
}
